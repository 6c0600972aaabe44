import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import ParquetDataset

from california_housing import structure
from california_housing.pipelines.data_processing import create_pipeline
from california_housing.schema import RAW_FEATURES, TARGET, RawDataValidationError
from tests.helpers import KeptMemoryDataset, parameter_datasets

REPO_ROOT = Path(__file__).resolve().parents[3]
RAW = "california_housing_raw"
VERSIONS = ("v1", "v2", "v3", "v4")
#: What data_processing writes besides each version's three files.
SHARED = ("validated_raw", "split_assignment", "common_holdout_ids", "population_test")

V5 = """
  v5:
    description: Censored target removed, all blocks kept, one feature
    filters:
      MedHouseVal: {le: 5.0}
    features: [bedrooms_ratio]
"""


@pytest.fixture
def in_project(monkeypatch):
    """Run from the project root: create_pipeline() reads the versions from its conf."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    return REPO_ROOT


def _run(pipeline, raw, outputs):
    """Run ``pipeline`` on ``raw`` with the current project's parameters."""
    catalog = DataCatalog(
        {
            RAW: MemoryDataset(raw),
            **parameter_datasets(pipeline, structure.parameters()),
            **outputs,
        }
    )
    SequentialRunner().run(pipeline, catalog)
    return catalog


def _in_memory(pipeline):
    return {name: KeptMemoryDataset() for name in pipeline.all_outputs()}


def _files(root, pipeline):
    return {
        name: JSONDataset(filepath=str(root / f"{name}.json"))
        if name == "population_coverage"
        else ParquetDataset(filepath=str(root / f"{name}.parquet"))
        for name in pipeline.all_outputs()
    }


def test_pipeline_builds_every_configured_version(in_project, generated_raw):
    pipeline = create_pipeline()
    n, n_test = len(generated_raw), math.ceil(0.2 * len(generated_raw))

    catalog = _run(pipeline, generated_raw, _in_memory(pipeline))

    is_test = (catalog.load("split_assignment")["split"] == "test").to_numpy()
    kept = ((generated_raw[TARGET] <= 5.0) & (generated_raw["Longitude"] < -119.0)).to_numpy()
    kept_test = int((kept & is_test).sum())
    shapes = {
        name: catalog.load(name).shape
        for name in sorted(pipeline.all_outputs() - {"population_coverage"})
    }
    assert 0 < kept_test < kept.sum()
    assert shapes == {
        "validated_raw": (n, 9),
        "split_assignment": (n, 1),
        "v1.model_input": (n, 9),
        "v1.train": (n - n_test, 9),
        "v1.test": (n_test, 9),
        "v2.model_input": (kept.sum(), 9),
        "v2.train": (kept.sum() - kept_test, 9),
        "v2.test": (kept_test, 9),
        "v3.model_input": (kept.sum(), 13),
        "v3.train": (kept.sum() - kept_test, 13),
        "v3.test": (kept_test, 13),
        "v4.model_input": (n, 22),
        "v4.train": (n - n_test, 22),
        "v4.test": (n_test, 22),
        "common_holdout_ids": (kept_test, 1),
        "population_test": (n_test, 9),  # the whole state: every test row
    }
    coverage = catalog.load("population_coverage")
    assert coverage["rows"] == n
    assert {name: spec["covers"] for name, spec in coverage["versions"].items()} == {
        "v1": True,
        "v2": False,
        "v3": False,
        "v4": True,
    }
    assert coverage["versions"]["v2"]["rows_kept"] == kept.sum()
    assert catalog.load("common_holdout_ids")["row_id"].tolist() == sorted(
        catalog.load("v2.test").index
    )


def test_pipeline_writes_every_output_when_the_data_is_valid(in_project, tmp_path, generated_raw):
    pipeline = create_pipeline()

    _run(pipeline, generated_raw, _files(tmp_path, pipeline))

    written = sorted(path.stem for path in tmp_path.iterdir())
    assert written == sorted(pipeline.all_outputs())
    assert len(written) == len(SHARED) + 1 + 3 * len(VERSIONS)


@pytest.mark.parametrize(
    ("value", "check"),
    [(np.nan, "not_nullable"), (np.inf, "finite"), (-np.inf, "finite")],
)
def test_invalid_raw_data_stops_the_run_before_anything_is_written(
    in_project, tmp_path, generated_raw, value, check
):
    pipeline = create_pipeline()
    broken = generated_raw.copy()
    broken.loc[123, "AveOccup"] = value

    with pytest.raises(RawDataValidationError, match=f"column 'AveOccup': check {check}"):
        _run(pipeline, broken, _files(tmp_path, pipeline))

    assert list(tmp_path.rglob("*")) == []


def test_a_new_version_is_a_yaml_entry(monkeypatch, tmp_path, generated_raw, in_project):
    assert "v5.build_version" not in {node.name for node in create_pipeline().nodes}
    shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    parameters_file = tmp_path / "conf" / "base" / "parameters_data_processing.yml"
    with parameters_file.open("a") as file:
        file.write(V5)
    assert list(yaml.safe_load(parameters_file.read_text())["versions"]) == [*VERSIONS, "v5"]
    monkeypatch.chdir(tmp_path)

    pipeline = create_pipeline()
    catalog = _run(pipeline, generated_raw, _in_memory(pipeline))

    node_names = {node.name for node in pipeline.nodes}
    assert {"v5.build_version", "v5.split_version"} <= node_names
    model_input = catalog.load("v5.model_input")
    assert model_input.shape == ((generated_raw[TARGET] <= 5.0).sum(), 10)
    assert len(model_input) < len(generated_raw)
    assert list(model_input.columns) == [*RAW_FEATURES, "bedrooms_ratio", TARGET]
    train, test = catalog.load("v5.train"), catalog.load("v5.test")
    assert len(train) + len(test) == len(model_input)
    assert set(test.index) <= set(catalog.load("v1.test").index)
