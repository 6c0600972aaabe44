import math
from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure
from sklearn.pipeline import Pipeline as SklearnPipeline

from california_housing import structure
from california_housing.pipelines.data_science import create_pipeline
from california_housing.schema import RAW_FEATURES
from tests.helpers import KeptMemoryDataset, parameter_datasets, version_splits

REPO_ROOT = Path(__file__).resolve().parents[3]
CANDIDATE = "v3.linear"
METRICS = {"rmse", "mae", "r2", "mape"}


@pytest.fixture
def in_project(monkeypatch):
    """Run from the project root: create_pipeline() reads versions and models from its conf."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    return REPO_ROOT


def test_every_version_and_model_is_a_candidate_namespace(in_project):
    parameters = structure.parameters()

    pipeline = create_pipeline()

    expected = {
        f"{version}.{model}"
        for version, spec in parameters["versions"].items()
        for model in spec.get("models", parameters["models"])
    }
    assert {node.namespace for node in pipeline.nodes} == expected
    assert "v4.random_forest" not in expected  # v4 lists the models it trains


def test_one_candidate_runs_on_an_in_memory_catalog(in_project, generated_raw):
    parameters = structure.parameters()
    splits, holdout_ids = version_splits(generated_raw, parameters)
    train, test = splits["v3"]
    population = splits["v1"][1]  # the whole state's test rows
    pipeline = create_pipeline().only_nodes_with_namespaces([CANDIDATE])
    catalog = DataCatalog(
        {
            "v3.train": MemoryDataset(train),
            "v3.test": MemoryDataset(test),
            "population_test": MemoryDataset(population),
            "common_holdout_ids": MemoryDataset(holdout_ids),
            **parameter_datasets(pipeline, parameters),
            **{name: KeptMemoryDataset() for name in pipeline.all_outputs()},
        }
    )
    assert pipeline.inputs() == {
        "v3.train",
        "v3.test",
        "population_test",
        "common_holdout_ids",
        "params:models.linear",
        "params:versions.v3",
        "params:seed",
    }

    SequentialRunner().run(pipeline, catalog)

    assert {node.name for node in pipeline.nodes} == {
        f"{CANDIDATE}.{name}"
        for name in (
            "fit_model",
            "predict_test",
            "predict_population",
            "evaluate_model",
            "plot_predictions",
        )
    }
    metrics = catalog.load(f"{CANDIDATE}.metrics")
    assert set(metrics) == {
        *METRICS,
        *(f"holdout_{name}" for name in METRICS),
        *(f"population_{name}" for name in METRICS),
        "n_test",
        "n_holdout",
        "n_population",
        "train_seconds",
    }
    assert math.isfinite(metrics["rmse"])
    assert 0.3 < metrics["rmse"] < 1.0  # linear regression on the generated v3 rows: ~0.5
    assert math.isfinite(metrics["holdout_rmse"])
    assert metrics["n_test"] == len(test)
    assert metrics["n_holdout"] == len(holdout_ids)
    assert metrics["n_population"] == len(population) > len(test)  # rows v3 never kept
    assert metrics["population_rmse"] > metrics["rmse"]  # they are harder for it
    assert catalog.load(f"{CANDIDATE}.mlflow_metrics")["rmse"] == {
        "value": metrics["rmse"],
        "step": 0,
    }
    regressor = catalog.load(f"{CANDIDATE}.regressor")
    assert isinstance(regressor, SklearnPipeline)
    assert list(regressor.feature_names_in_) == RAW_FEATURES
    assert list(catalog.load(f"{CANDIDATE}.predictions").index) == list(test.index)
    figure = catalog.load(f"{CANDIDATE}.predictions_plot")
    assert isinstance(figure, Figure)
    assert figure.get_suptitle().startswith("v3.linear (LinearRegression): own test split")
