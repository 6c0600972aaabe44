"""Kedro dataset around scikit-learn's ``fetch_california_housing``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from california_housing.schema import RAW_FEATURES, TARGET

CACHE_FILE = "cal_housing_py3.pkz"


class CaliforniaHousingDataset(AbstractDataset[None, pd.DataFrame]):
    """The California Housing data (20,640 block groups, 8 features and the target).

    ``source: sklearn`` (the default) loads the real data through scikit-learn's fetcher.
    The cache folder is ``$SCIKIT_LEARN_DATA`` when that variable is set, else ``path``
    (``data/01_raw`` in this project); the fetcher downloads into it once when online.

    ``source: synthetic`` generates a frame with the same schema and plausible
    distributions. It is for trying the project without the data and is only used on
    explicit request (``kedro run --env synthetic``); that environment writes to its own
    folders and MLflow experiment so synthetic results are never mistaken for real ones.

    Example catalog entry::

        california_housing_raw:
          type: california_housing.datasets.CaliforniaHousingDataset
          path: data/01_raw
    """

    def __init__(
        self,
        path: str = "data/01_raw",
        source: Literal["sklearn", "synthetic"] = "sklearn",
        synthetic_rows: int = 20_640,
        seed: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            path: Cache folder used when ``SCIKIT_LEARN_DATA`` is not set.
            source: ``sklearn`` for the real data, ``synthetic`` for generated rows.
            synthetic_rows: Number of rows of the synthetic source.
            seed: Seed of the synthetic source.
            metadata: Kedro metadata (layer, kedro-viz settings); unused here.
        """
        if source not in ("sklearn", "synthetic"):
            raise DatasetError(
                f"CaliforniaHousingDataset: unknown source {source!r}; "
                "use 'sklearn' (real data) or 'synthetic'."
            )
        self._path = Path(path)
        self._source = source
        self._synthetic_rows = synthetic_rows
        self._seed = seed
        self.metadata = metadata

    @property
    def cache_dir(self) -> Path:
        """Folder the fetcher reads its cache from (and downloads into)."""
        env = os.environ.get("SCIKIT_LEARN_DATA")
        return Path(env).expanduser() if env else self._path

    def load(self) -> pd.DataFrame:
        """Load the raw frame: the 8 feature columns and ``MedHouseVal``.

        Returns:
            The raw frame, one row per block group.

        Raises:
            DatasetError: When the real data is neither cached nor downloadable.
        """
        if self._source == "synthetic":
            return synthetic_california_housing(self._synthetic_rows, self._seed)
        from sklearn.datasets import fetch_california_housing  # noqa: PLC0415 (slow import)

        try:
            bunch = fetch_california_housing(data_home=str(self.cache_dir), as_frame=True)
        except OSError as exc:  # URLError, socket errors and missing cache are OSErrors
            raise DatasetError(
                f"The California Housing data is not cached in {self.cache_dir} "
                f"(no {CACHE_FILE}) and could not be downloaded ({exc}). Either point "
                f"SCIKIT_LEARN_DATA at a folder that holds {CACHE_FILE} "
                f"(export SCIKIT_LEARN_DATA=/path/to/scikit_learn_data), or run on "
                "generated data with `kedro run --env synthetic` (its outputs are kept "
                "apart and marked synthetic)."
            ) from exc
        return bunch.frame

    def save(self, data: None) -> None:
        """The raw data is read-only.

        Raises:
            DatasetError: Always.
        """
        raise DatasetError("CaliforniaHousingDataset is read-only.")

    def _exists(self) -> bool:
        return self._source == "synthetic" or (self.cache_dir / CACHE_FILE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "source": self._source}


def synthetic_california_housing(rows: int, seed: int) -> pd.DataFrame:
    """Generate rows with the real data's schema and roughly its distributions.

    Locations cluster around the Bay Area and Los Angeles; value rises with income
    and falls inland, and is capped at 5.00001 like the census data.

    Args:
        rows: Number of rows.
        seed: Random seed.

    Returns:
        A frame with the 8 raw feature columns and ``MedHouseVal``.
    """
    rng = np.random.default_rng(seed)
    south = rng.random(rows) < 0.6
    latitude = np.where(south, rng.normal(34.1, 0.6, rows), rng.normal(37.8, 0.9, rows))
    longitude = np.where(south, rng.normal(-118.2, 0.8, rows), rng.normal(-122.0, 0.9, rows))
    med_inc = np.clip(rng.lognormal(1.25, 0.45, rows), 0.5, 15.0)
    ave_occup = np.clip(rng.lognormal(1.05, 0.25, rows), 0.7, 20.0)
    ave_rooms = np.clip(rng.normal(4.0 + 0.35 * med_inc, 1.0), 1.0, 40.0)
    frame = pd.DataFrame(
        {
            "MedInc": med_inc,
            "HouseAge": rng.integers(1, 53, rows).astype(float),
            "AveRooms": ave_rooms,
            "AveBedrms": np.clip(ave_rooms * rng.normal(0.2, 0.03, rows), 0.3, None),
            "Population": np.clip(rng.lognormal(7.0, 0.7, rows), 3.0, 35_000.0).round(),
            "AveOccup": ave_occup,
            "Latitude": np.clip(latitude, 32.6, 41.9),
            "Longitude": np.clip(longitude, -124.3, -114.4),
        }
    )
    coast = np.clip(1.0 - (frame["Longitude"] + 124.3) / 10.0, 0.0, 1.0)
    value = 0.45 * med_inc + 1.2 * coast + rng.normal(0.0, 0.5, rows)
    frame[TARGET] = np.clip(value, 0.15, 5.00001)
    return frame[[*RAW_FEATURES, TARGET]]
