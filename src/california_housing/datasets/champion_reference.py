"""The champion's own training data: its data version's split, as it was when it trained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import DatasetError

from california_housing.datasets.load_only import LoadOnlyDataset


class ChampionSplitsDataset(LoadOnlyDataset):
    """The train and test splits the registry's champion was trained and tested on (load-only).

    The champion's registry entry names its data version (tag ``data_version``) and its
    MLflow run; the run's tag ``kedro_session_id`` is the save version of the Kedro run
    that trained it. The splits are Kedro-versioned files (``<filepath>/<version>/<file>``);
    the one used is the newest saved no later than that session, so a split rebuilt later
    (a retrain whose candidates the promotion gate refused, say) is not mistaken for the
    champion's training data.
    """

    written_by = "data_processing writes the splits"

    def __init__(
        self,
        registered_model_name: str,
        filepath: str,
        alias: str = "champion",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Configure the dataset.

        Args:
            registered_model_name: Name of the model in the registry.
            filepath: Path of a version's split with ``{version}`` and ``{split}``
                placeholders, e.g. ``data/05_model_input/{version}/{split}.parquet``.
            alias: The alias that marks the champion.
            metadata: Kedro metadata; unused here.
        """
        self._name = registered_model_name
        self._filepath = filepath
        self._alias = alias
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """Find and read the champion's splits.

        Returns:
            ``data_version``, ``split_version`` (the Kedro save version used),
            ``trained_in`` (the champion's session id), ``train`` and ``test`` frames;
            ``{}`` when there is no champion.

        Raises:
            DatasetError: When the champion's data version has no saved split old enough.
        """
        import mlflow  # noqa: PLC0415
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        client = mlflow.MlflowClient()
        try:
            version = client.get_model_version_by_alias(self._name, self._alias)
        except MlflowException:
            return {}
        data_version = version.tags.get("data_version", "")
        trained_in = client.get_run(version.run_id).data.tags.get("kedro_session_id", "")
        found: dict[str, Any] = {"data_version": data_version, "trained_in": trained_in}
        for split in ("train", "test"):
            path = Path(self._filepath.format(version=data_version, split=split))
            saved = sorted(p.name for p in path.glob("*") if (p / path.name).is_file())
            usable = [s for s in saved if not trained_in or s <= trained_in]
            if not usable:
                raise DatasetError(
                    f"No saved {split} split of data version {data_version!r} in {path} from "
                    f"before the champion's run (session {trained_in or '?'}); rerun "
                    "`kedro run` to rebuild the data and the champion together."
                )
            found["split_version"] = usable[-1]
            found[split] = pd.read_parquet(path / usable[-1] / path.name)
        return found

    def _describe(self) -> dict[str, Any]:
        return {"registered_model_name": self._name, "filepath": self._filepath}
