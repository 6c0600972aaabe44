"""A prediction log written to SQLite and read back through the catalog's dataset."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from california_housing.datasets import PredictionLogDataset
from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET
from california_housing.serving.log.synthetic import log_rows, write_log

REFERENCE_ROWS = 2000


def _rows(n, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.uniform(1, 5, n) for c in RAW_FEATURES})
    frame["MedInc"] += shift
    frame["Latitude"], frame["Longitude"] = rng.uniform(33, 41, n), rng.uniform(-124, -119.5, n)
    return frame.assign(**{TARGET: rng.uniform(0.5, 4.5, n)})


#: A champion's training rows and its predictions on its test split.
REFERENCE = _rows(REFERENCE_ROWS, seed=5)[RAW_FEATURES]
REFERENCE_PREDICTIONS = pd.DataFrame({PREDICTION: _rows(REFERENCE_ROWS, seed=6)[TARGET]})


@pytest.fixture
def logged(tmp_path):
    """Write a log to a SQLite file; give its rows and the catalog's window datasets."""

    def write(n=200, *, shift=0.0, feedback_every=2, version=3, error=0.3, seed=0, chunk=64):
        rows = _rows(n, seed, shift)
        noise = np.random.default_rng(seed + 1).normal(0, error, n)
        predictions, feedback = log_rows(
            rows,
            rows[TARGET] + noise,
            model_version=version,
            feedback_every=feedback_every,
            seed=seed,
            start=datetime(2026, 1, 2, tzinfo=UTC),
        )
        url = f"sqlite:///{tmp_path}/log-{seed}-{n}.db"
        write_log(url, predictions, feedback)
        window = {"since": "2026-01-01T00:00:00", "until": "2026-02-01T00:00:00"}
        datasets = {
            query: PredictionLogDataset(
                query=query, credentials={"con": url}, window=window, chunk_rows=chunk
            ).load()
            for query in ("window_values", "window_traffic", "window_labelled")
        }
        return predictions, feedback, datasets

    return write
