"""Wiring of the tuning pipeline: search, refit and evaluate per tuned version."""

from kedro.pipeline import Node, Pipeline

from california_housing import structure
from california_housing.pipelines.data_science.nodes import fit_model
from california_housing.pipelines.data_science.pipeline import candidate, evaluation_template
from california_housing.pipelines.tuning.nodes import (
    tune_hyperparameters,
    tuned_model_spec,
    version_tuning,
)
from california_housing.pipelines.tuning.records import plot_study
from california_housing.tracking import candidate_name


def _tuned_candidate(name: str) -> Pipeline:
    return Pipeline(
        [
            Node(
                version_tuning,
                ["params:tuning", "params:tuning_overrides"],
                "tuning_settings",
                name="build_tuning_settings",
            ),
            Node(
                tune_hyperparameters,
                [
                    "study",
                    "trial_runs",
                    "train",
                    "params:model",
                    "params:version",
                    "tuning_settings",
                ],
                ["best_params", "trials", "study_metrics"],
                name="tune_hyperparameters",
            ),
            Node(
                plot_study,
                ["study", "trials", "params:tuning.seed"],
                ["optimization_history", "param_importances"],
                name="plot_study",
            ),
            Node(
                tuned_model_spec,
                ["params:model", "tuning_settings", "best_params"],
                "tuned_model",
                name="build_tuned_model_spec",
            ),
            Node(
                fit_model,
                ["train", "tuned_model", "params:version", "params:seed"],
                ["regressor", "train_seconds"],
                name="fit_model",
            ),
        ]
    ) + evaluation_template(name)


def create_pipeline(**kwargs: object) -> Pipeline:
    """Tune the base model on each version of ``tuning.versions`` (with its overrides).

    The tuned model is one more candidate, ``{version}.{model}_tuned``, evaluated exactly
    like the zoo (same metrics, figure, logged model, common holdout).

    Returns:
        The tuning pipeline.
    """
    base = structure.tuned_model()
    return sum(
        (
            candidate(
                _tuned_candidate(candidate_name(version, f"{base}_tuned")),
                version,
                f"{base}_tuned",
                base,
                extra_params=("tuning", "tuning.seed"),
                overrides={"params:tuning_overrides": f"params:tuning.versions.{version}"},
            ).tag("tuning")
            for version in structure.tuned_versions()
        ),
        Pipeline([]),
    )
