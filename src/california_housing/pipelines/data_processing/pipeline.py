"""Wiring of the data_processing pipeline: one template, one namespace per version."""

from kedro.pipeline import Node, Pipeline

from california_housing import structure
from california_housing.pipelines.data_processing.nodes import (
    assign_split,
    build_version,
    common_holdout,
    population_coverage,
    population_test_rows,
    split_version,
    validate_raw,
)


def _version_template() -> Pipeline:
    return Pipeline(
        [
            Node(
                build_version,
                ["validated_raw", "params:version"],
                "model_input",
                name="build_version",
            ),
            Node(
                split_version,
                ["model_input", "split_assignment"],
                ["train", "test"],
                name="split_version",
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """Validate and split the raw data once, then build each configured version.

    Returns:
        The data_processing pipeline.
    """
    versions = structure.versions()
    shared = Pipeline(
        [
            Node(validate_raw, "california_housing_raw", "validated_raw", name="validate_raw"),
            Node(
                assign_split,
                ["validated_raw", "params:split.test_size", "params:split.seed"],
                "split_assignment",
                name="assign_split",
            ),
            Node(
                common_holdout,
                ["validated_raw", "split_assignment", "params:versions"],
                "common_holdout_ids",
                name="find_common_holdout",
            ),
            Node(
                population_test_rows,
                ["validated_raw", "split_assignment", "params:population"],
                "population_test",
                name="find_population_test_rows",
            ),
            Node(
                population_coverage,
                ["validated_raw", "params:versions", "params:population"],
                "population_coverage",
                name="check_population_coverage",
            ),
        ]
    )
    per_version = [
        Pipeline(
            _version_template(),
            namespace=version,
            inputs={"validated_raw", "split_assignment"},
            parameters={"params:version": f"params:versions.{version}"},
            tags=[version],
        )
        for version in versions
    ]
    return shared + sum(per_version, Pipeline([]))
