"""Session-wide setup shared by every test: quiet telemetry and the real raw data."""

import os
from pathlib import Path

import pytest

from california_housing.datasets import CaliforniaHousingDataset

REPO_ROOT = Path(__file__).resolve().parents[1]

for _name in ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "true")

_SHARED_CACHE = REPO_ROOT.parent / "shared" / "data" / "scikit_learn_data"
if "SCIKIT_LEARN_DATA" not in os.environ and _SHARED_CACHE.is_dir():
    os.environ["SCIKIT_LEARN_DATA"] = str(_SHARED_CACHE)


@pytest.fixture(scope="session")
def raw_frame():
    """The real California Housing frame (20,640 x 9). Shared: copy before changing it."""
    return CaliforniaHousingDataset().load()


@pytest.fixture
def small_raw(raw_frame):
    """The first 200 real rows, a private copy each test may change."""
    return raw_frame.head(200).copy()
