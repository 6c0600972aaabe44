"""MlflowInputDataset: the table is saved, and recorded as an input of the active run."""

import json

import mlflow
import pandas as pd

from california_housing.datasets import MlflowInputDataset


def test_saved_rows_become_an_input_of_the_run(experiment_id, tmp_path):
    path = tmp_path / "feedback" / "rows.parquet"
    config = {"type": "pandas.ParquetDataset", "filepath": str(path)}
    dataset = MlflowInputDataset(config, name="feedback_source", context="feedback")
    rows = pd.DataFrame({"prediction_id": ["a", "b"], "MedHouseVal": [1.5, 2.5]})
    dataset.save(rows)  # no run: the file only
    assert path.is_file()
    with mlflow.start_run(experiment_id=experiment_id) as run:
        dataset.save(rows)
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    record = inputs[0]
    assert record.dataset.name == "feedback_source"
    assert json.loads(record.dataset.source)["uri"] == str(path)
    assert json.loads(record.dataset.profile)["num_rows"] == 2
    assert [(t.key, t.value) for t in record.tags] == [("mlflow.data.context", "feedback")]
    pd.testing.assert_frame_equal(dataset.load(), rows)
