"""ChampionSplitsDataset: the champion's splits as saved when it was trained."""

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError

from california_housing.datasets import ChampionSplitsDataset

NAME = "california-housing-test"


def _champion(session: str, data_version: str = "v2") -> None:
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("e")
    run = client.create_run(experiment, tags={"kedro_session_id": session})
    client.create_registered_model(NAME)
    version = client.create_model_version(
        NAME,
        f"runs:/{run.info.run_id}/model",
        run.info.run_id,
        tags={"data_version": data_version},
    )
    client.set_registered_model_alias(NAME, "champion", version.version)


def _save(root, version, saved, rows):
    for split in ("train", "test"):
        folder = root / "model_input" / version / f"{split}.parquet" / saved
        folder.mkdir(parents=True)
        pd.DataFrame({"rows": range(rows)}).to_parquet(folder / f"{split}.parquet")


def test_the_split_saved_when_the_champion_trained_is_read(tracking_store):
    for saved, rows in (
        ("2026-01-01T10.00.00.000Z", 1),
        ("2026-01-02T10.00.00.000Z", 2),
        ("2026-01-03T10.00.00.000Z", 3),
    ):
        _save(tracking_store, "v2", saved, rows)
    _save(tracking_store, "v3", "2026-01-02T10.00.00.000Z", 9)
    _champion("2026-01-02T10.00.00.000Z")  # trained in the session that saved version 2
    dataset = ChampionSplitsDataset(
        NAME, str(tracking_store / "model_input" / "{version}" / "{split}.parquet")
    )
    found = dataset.load()
    assert found["data_version"] == "v2"
    assert found["split_version"] == "2026-01-02T10.00.00.000Z"
    assert len(found["train"]) == len(found["test"]) == 2


def test_no_champion_and_no_old_enough_split(tracking_store):
    dataset = ChampionSplitsDataset(NAME, str(tracking_store / "{version}" / "{split}.parquet"))
    assert dataset.load() == {}
    _save(tracking_store, "v2", "2026-01-05T10.00.00.000Z", 1)
    _champion("2026-01-02T10.00.00.000Z")
    late = ChampionSplitsDataset(
        NAME, str(tracking_store / "model_input" / "{version}" / "{split}.parquet")
    )
    with pytest.raises(DatasetError, match="No saved train split of data version 'v2'"):
        late.load()
