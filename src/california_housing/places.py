"""Places: where a row of the data is, at the data's own resolution.

The raw data gives each block group's coordinates rounded to 0.01 degree (~1 km): its 20,640
rows sit at 12,590 distinct places. A row of feedback describes a place the data may already
have (a later observation of the same block group), so whatever must not be learnt from a test
row must not be learnt from feedback at its place either:

- retraining never adds feedback at a test row's place to the training data (nor, so, to a
  model's neighbour index): ``retrain``;
- live error is measured on feedback at the served population's test places, the places
  whose rows no model trained on: ``monitoring``, and ``kedro traffic`` draws accordingly.

The one shared split by row id stays the evaluation protocol for the raw rows themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Multiplier of the latitude part of a key: more than twice any longitude part (|180| / 0.001).
_SPAN = 1_000_000


def place_keys(rows: pd.DataFrame, resolution: float) -> np.ndarray:
    """One integer per row naming its place: its coordinates rounded to ``resolution``.

    Args:
        rows: Rows with ``Latitude`` and ``Longitude``.
        resolution: Degrees (``split.place_resolution``: 0.01, the data's own).

    Returns:
        int64 keys, equal for rows at the same place.

    Raises:
        ValueError: When ``resolution`` is not a positive number.
    """
    if not resolution > 0:
        raise ValueError(f"split.place_resolution must be a positive number, got {resolution!r}.")
    latitude = np.round(rows["Latitude"].to_numpy(float) / resolution).astype("int64")
    longitude = np.round(rows["Longitude"].to_numpy(float) / resolution).astype("int64")
    return latitude * _SPAN + longitude


def at_places(rows: pd.DataFrame, places: pd.DataFrame, resolution: float) -> np.ndarray:
    """Which of ``rows`` lie at one of the places of ``places``.

    Args:
        rows: Rows to check (``Latitude``, ``Longitude``).
        places: Rows whose places count (e.g. the test split).
        resolution: See :func:`place_keys`.

    Returns:
        A boolean array aligned with ``rows``.
    """
    return np.isin(place_keys(rows, resolution), place_keys(places, resolution))
