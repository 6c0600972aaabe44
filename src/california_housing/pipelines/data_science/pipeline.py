"""Wiring of the data_science pipeline: one candidate template per version x model."""

from kedro.pipeline import Node, Pipeline

from california_housing import structure
from california_housing.pipelines.data_science.nodes import (
    evaluate_predictions,
    fit_model,
    plot_predictions_for,
    predict_test,
)
from california_housing.tracking import CANDIDATE_TAG, candidate_name


def evaluation_template(candidate_name: str) -> Pipeline:
    """Predict, score and plot a fitted ``regressor``: shared by every candidate.

    Args:
        candidate_name: The candidate's name (``v3.xgboost``), which titles its figure.

    Returns:
        Nodes from ``regressor``, ``test``, ``population_test``, ``common_holdout_ids`` and
        ``train_seconds`` to ``metrics``, ``mlflow_metrics`` and ``predictions_plot``.
    """
    return Pipeline(
        [
            Node(predict_test, ["regressor", "test"], "predictions", name="predict_test"),
            Node(
                predict_test,
                ["regressor", "population_test"],
                "population_predictions",
                name="predict_population",
            ),
            Node(
                evaluate_predictions,
                [
                    "predictions",
                    "population_predictions",
                    "common_holdout_ids",
                    "train_seconds",
                ],
                ["metrics", "mlflow_metrics"],
                name="evaluate_model",
            ),
            Node(
                plot_predictions_for(candidate_name),
                ["predictions", "regressor"],
                "predictions_plot",
                name="plot_predictions",
            ),
        ]
    )


def _candidate_template(candidate_name: str) -> Pipeline:
    fit = Node(
        fit_model,
        ["train", "params:model", "params:version", "params:seed"],
        ["regressor", "train_seconds"],
        name="fit_model",
    )
    return Pipeline([fit]) + evaluation_template(candidate_name)


def candidate(
    template: Pipeline,
    version: str,
    name: str,
    model: str,
    *,
    extra_params: tuple[str, ...] = (),
    overrides: dict[str, str] | None = None,
) -> Pipeline:
    """Instantiate a candidate template as ``{version}.{name}``.

    Args:
        template: The candidate's nodes (reading ``train``, ``test``, ``population_test``,
            ``common_holdout_ids``).
        version: The data version it trains on.
        name: The candidate's model name (``xgboost``, ``xgboost_tuned``...).
        model: The entry of ``models`` it starts from.
        extra_params: Further top-level parameters it reads, un-namespaced.
        overrides: Further parameters it reads under another name (template name -> name).

    Returns:
        The namespaced candidate, tagged ``candidate`` (one MLflow child run), its
        version and its name.
    """
    return Pipeline(
        template,
        namespace=candidate_name(version, name),
        inputs={
            "train": f"{version}.train",
            "test": f"{version}.test",
            "common_holdout_ids": "common_holdout_ids",
            "population_test": "population_test",
        },
        parameters={
            "params:model": f"params:models.{model}",
            "params:version": f"params:versions.{version}",
            "params:seed": "params:seed",
        }
        | {f"params:{p}": f"params:{p}" for p in extra_params}
        | (overrides or {}),
        tags=[CANDIDATE_TAG, version, name],
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """Train the models of the zoo on every data version (a version may list its own).

    Each candidate is the same template in namespace ``{version}.{model}``, tagged with
    its version, its model and ``candidate`` (one MLflow child run each).

    Returns:
        The data_science pipeline.
    """
    return sum(
        (
            candidate(_candidate_template(candidate_name(version, model)), version, model, model)
            for version, model in structure.zoo_candidates()
        ),
        Pipeline([]),
    )
