"""The monitoring pipeline on generated data and a SQLite prediction log (contract schema).

The log is read through the catalog's own queries (``PredictionLogDataset`` entries of
conf/base/catalog.yml); the champion is a real model fitted on the v2 train
split of generated rows with the real schema; the MLflow run lands in a SQLite tracking
store in tmp_path.
"""

from datetime import UTC, datetime, timedelta

import mlflow
import pytest
import yaml
from kedro.io import AbstractDataset, DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner

from california_housing.datasets import MlflowMonitoringRunDataset, PredictionLogDataset
from california_housing.datasets.california_housing_dataset import synthetic_california_housing
from california_housing.pipelines.data_processing.nodes import assign_split, validate_raw
from california_housing.pipelines.data_science.nodes import fit_model
from california_housing.pipelines.monitoring import create_pipeline
from california_housing.pipelines.monitoring.nodes import PREDICTION
from california_housing.schema import RAW_FEATURES
from california_housing.serving.log.synthetic import log_rows, write_log
from california_housing.traffic import scenario_rows
from tests.helpers import REPO_ROOT, KeptMemoryDataset, parameter_datasets, version_splits
from tests.mlflow_store import copied_store

SINCE, UNTIL = "2026-01-01 00:00:00", "2026-01-08 00:00:00"
START = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def setting():
    """Splits of every version, and a champion (xgboost, test size) trained on v2.

    8,000 generated rows: enough for the control traffic, sampled from them, to show no
    drift.
    """
    raw = synthetic_california_housing(rows=8_000, seed=1)
    base = yaml.safe_load((REPO_ROOT / "conf/base/parameters_data_processing.yml").read_text())
    test_models = yaml.safe_load((REPO_ROOT / "conf/test/parameters_data_science.yml").read_text())[
        "models"
    ]
    monitoring = yaml.safe_load((REPO_ROOT / "conf/base/parameters_monitoring.yml").read_text())
    splits, _ = version_splits(raw, base)
    model, _ = fit_model(splits["v2"][0], test_models["xgboost"], base["versions"]["v2"], 42)
    validated = validate_raw(raw)
    split = assign_split(validated, base["split"]["test_size"], base["split"]["seed"])
    holdout = splits["v2"][1]
    rmse = float(((model.predict(holdout[RAW_FEATURES]) - holdout["MedHouseVal"]) ** 2).mean())
    champion = {
        "name": "california-housing-test",
        "version": 4,
        "candidate": "v2.xgboost",
        "data_version": "v2",
        "holdout_rmse": rmse**0.5,
        "run_id": "r",
        "model": model,
    }
    return {
        "splits": splits,
        "validated": validated,
        "split": split,
        "champion": champion,
        "versions": base["versions"],
        "parameters": monitoring | {"split": base["split"]},
    }


def _traffic(setting, scenario, rows, seed, start=START):
    frame = scenario_rows(
        setting["validated"],
        setting["split"],
        setting["versions"]["v2"]["filters"],
        setting["parameters"]["traffic"]["scenarios"][scenario],
        rows=rows,
        seed=seed,
    )
    predicted = setting["champion"]["model"].predict(frame[RAW_FEATURES])
    return log_rows(frame, predicted, model_version=4, feedback_every=2, seed=seed, start=start)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory, mlflow_template):
    """One SQLite MLflow store for the module (a copy of the session's migrated one)."""
    with copied_store(mlflow_template, tmp_path_factory.mktemp("mlflow")) as folder:
        yield folder


def _run(setting, url, tmp_path):
    catalog_yaml = yaml.safe_load((REPO_ROOT / "conf/base/catalog.yml").read_text())
    window = {"params": {"since": SINCE, "until": UNTIL}}
    pipeline = create_pipeline()
    parameters = setting["parameters"] | {
        "monitoring": setting["parameters"]["monitoring"] | {"window": window["params"]}
    }
    datasets = {
        name: PredictionLogDataset(
            query=catalog_yaml[name]["query"], credentials={"con": url}, window=window["params"]
        )
        for name in ("monitoring_predictions", "monitoring_feedback")
    }
    datasets |= {
        name: AbstractDataset.from_config(name, entry)  # the catalog's in-memory entries
        for name, entry in catalog_yaml.items()
        if isinstance(entry, dict) and entry.get("type") == "MemoryDataset"
    }
    datasets["registered_champion"] = MemoryDataset(setting["champion"], copy_mode="assign")
    datasets["population_test"] = MemoryDataset(setting["splits"]["v1"][1])  # the whole state
    train, test = setting["splits"]["v2"]
    datasets["champion_splits"] = MemoryDataset(
        {"data_version": "v2", "split_version": "s", "train": train, "test": test}
    )
    datasets |= parameter_datasets(pipeline, parameters)
    kept = [
        "monitoring_decision",
        "monitoring_drift",
        "monitoring_report",
        "monitoring_report_html",
        "monitoring_figure_files",
    ]
    datasets |= {name: KeptMemoryDataset() for name in kept}
    datasets["monitoring_run"] = MlflowMonitoringRunDataset(
        "monitoring-test", artifact_location=str(tmp_path / "artifacts")
    )
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in kept} | {"run": datasets["monitoring_run"].load()}


def test_control_traffic_raises_no_alarm(setting, tracking, tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    write_log(url, *_traffic(setting, "control", 1500, seed=1))
    out = _run(setting, url, tmp_path)
    decision = out["monitoring_decision"]
    assert decision["status"] == "ok" and decision["retrain"] is False, decision["reasons"]
    assert decision["window"]["rows"] == 1500
    assert decision["live_error"]["assessed"] and decision["live_error"]["rows"] == 750
    assert abs(decision["live_error"]["rmse_change"]) < 0.25
    assert out["monitoring_drift"]["assessed"].all()
    assert not out["monitoring_drift"]["drifted"].any()
    # the MLflow run of the monitoring experiment, with the per-feature scores
    run = out["run"]
    assert run["tags"]["status"] == "ok" and run["metrics"]["retrain"] == 0.0
    assert {f"psi.{c}" for c in [*RAW_FEATURES, PREDICTION]} <= set(run["metrics"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"])}
    assert artifacts == {"decision.json", "report.md", "report.html", "figures"}
    figures = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "figures")}
    assert figures == {
        "figures/distributions.png",
        "figures/drift_scores.png",
        "figures/live_error.png",
    }


def test_drift_traffic_flags_income_and_predictions_only(setting, tracking, tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    write_log(url, *_traffic(setting, "drift", 1500, seed=2))
    out = _run(setting, url, tmp_path)
    decision, drift = out["monitoring_decision"], out["monitoring_drift"]
    # the scenario scales MedInc; the prediction depends on it; nothing else moves
    assert set(drift.index[drift["drifted"]]) == {"MedInc", PREDICTION}
    assert decision["retrain"] is True and decision["status"] == "retrain"
    assert decision["reasons"][0].startswith("1 feature(s) drifted: MedInc")
    assert decision["live_error"]["rmse_change"] > 0.25  # prices did not follow incomes
    html = out["monitoring_report_html"]
    assert html.count("data:image/png;base64,") == 3 and "http" not in html
    assert "Retrain advised" in out["monitoring_report"]
    pngs = out["monitoring_figure_files"]
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())
    assert set(pngs) == {
        "distributions.png",
        "drift_scores.png",
        "live_error.png",
    }


def test_only_the_window_is_read(setting, tracking, tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    write_log(url, *_traffic(setting, "drift", 300, seed=3, start=START - timedelta(days=30)))
    write_log(url, *_traffic(setting, "control", 400, seed=4))
    out = _run(setting, url, tmp_path)
    assert out["monitoring_decision"]["window"]["rows"] == 400
    assert not out["monitoring_drift"]["drifted"].any()


def test_an_empty_window_gives_nothing_to_monitor(setting, tracking, tmp_path):
    url = f"sqlite:///{tmp_path}/log.db"
    write_log(url, *_traffic(setting, "control", 100, seed=5, start=START - timedelta(days=30)))
    out = _run(setting, url, tmp_path)
    decision = out["monitoring_decision"]
    assert (decision["status"], decision["retrain"]) == ("nothing_to_monitor", False)
    assert "Nothing to monitor." in out["monitoring_report"]
    assert out["run"]["tags"]["status"] == "nothing_to_monitor"


def test_a_log_without_the_services_tables_is_named(setting, tracking, tmp_path):
    url = f"sqlite:///{tmp_path}/never-served.db"
    with pytest.raises(DatasetError, match=r"(?s)no such table: predictions.*kedro serve"):
        _run(setting, url, tmp_path)
