"""Helpers shared by several test modules: in-memory datasets, parameters, version splits."""

from functools import reduce
from pathlib import Path

import pandas as pd
from kedro.config import OmegaConfigLoader
from kedro.io import MemoryDataset

from california_housing.pipelines.data_processing.nodes import (
    assign_split,
    build_version,
    common_holdout,
    split_version,
    validate_raw,
)
from california_housing.settings import CONFIG_LOADER_ARGS

REPO_ROOT = Path(__file__).resolve().parents[1]


class KeptMemoryDataset(MemoryDataset):
    """A MemoryDataset the runner cannot empty, so a test can read intermediate outputs."""

    def _release(self):
        pass


def project_parameters() -> dict:
    """The parameters of conf/base (overlaid by conf/local), wherever pytest runs from."""
    loader = OmegaConfigLoader(
        conf_source=str(REPO_ROOT / "conf"),
        base_env="base",
        default_run_env="local",
        custom_resolvers=CONFIG_LOADER_ARGS["custom_resolvers"],  # ${project_root:}
    )
    return dict(loader["parameters"])


def parameter_datasets(pipeline, parameters) -> dict[str, MemoryDataset]:
    """One MemoryDataset per ``params:a.b`` input, valued from the nested parameters."""
    return {
        name: MemoryDataset(reduce(dict.__getitem__, name.split(":", 1)[1].split("."), parameters))
        for name in pipeline.inputs()
        if name.startswith("params:")
    }


def version_splits(
    raw: pd.DataFrame, parameters: dict
) -> tuple[dict[str, tuple[pd.DataFrame, pd.DataFrame]], pd.DataFrame]:
    """Build every configured version's train/test split of ``raw`` with the data_processing nodes.

    Give it the ``generated_raw`` fixture in unit and pipeline tests.

    Returns:
        ``{version: (train, test)}`` and the common holdout's ``row_id`` frame.
    """
    validated = validate_raw(raw)
    split = parameters["split"]
    assignment = assign_split(validated, split["test_size"], split["seed"])
    splits = {
        name: split_version(build_version(validated, spec), assignment)
        for name, spec in parameters["versions"].items()
    }
    return splits, common_holdout(validated, assignment, parameters["versions"])
