"""Wiring of the reporting pipeline."""

import warnings

from kedro.pipeline import Node, Pipeline

from california_housing import structure
from california_housing.pipelines.reporting.figures import (
    plot_comparisons,
    plot_error_map,
    plot_importances,
)
from california_housing.pipelines.reporting.nodes import (
    build_leaderboard,
    decide_promotion,
    describe_champion,
    leaderboard_markdown,
    rescore_champion,
    write_report,
)


def apply_promotion(decision: dict) -> dict:
    """Hand the promotion decision to the registry dataset (which acts on it).

    Args:
        decision: Output of ``decide_promotion``.

    Returns:
        The same decision.
    """
    return decision


def create_pipeline(**kwargs: object) -> Pipeline:
    """Gather every candidate from MLflow, rank, promote the champion, describe it, report.

    Returns:
        The reporting pipeline.
    """
    candidates = [f"{v}.{m}" for v, m in structure.zoo_candidates()]
    candidates += [f"{v}.{structure.tuned_model()}_tuned" for v in structure.tuned_versions()]
    # The leaderboard reads every candidate's metrics by its namespaced name
    # (`v1.linear.metrics`, ...): that fan-in across namespaces is what it is for, and
    # Kedro's warning about dotted names outside a namespace does not apply to it.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="One or more dataset names contain '.'", category=UserWarning
        )
        gather = Node(
            build_leaderboard,
            {"candidate_runs": "candidate_runs", "coverage": "population_coverage"}
            | {name: f"{name}.metrics" for name in candidates},
            ["leaderboard", "leaderboard_history"],
            name="build_leaderboard",
        )
    return Pipeline(
        [
            gather,
            Node(
                leaderboard_markdown,
                "leaderboard",
                "leaderboard_markdown",
                name="render_leaderboard",
            ),
            Node(
                plot_comparisons,
                "leaderboard",
                ["comparison_overall", "comparison_by_version", "comparison_by_model"],
                name="plot_comparisons",
            ),
            Node(
                rescore_champion,
                [
                    "registered_champion",
                    "population_test",
                    "validated_raw",
                    "common_holdout_ids",
                ],
                "current_champion",
                name="rescore_champion",
            ),
            Node(
                decide_promotion,
                ["leaderboard", "current_champion", "population_coverage"],
                "promotion_decision",
                name="decide_promotion",
            ),
            Node(apply_promotion, "promotion_decision", "champion", name="apply_promotion"),
            Node(
                describe_champion,
                ["champion", "population_test", "params:versions"],
                ["champion_card", "champion_errors"],
                name="describe_champion",
            ),
            Node(
                plot_error_map,
                ["champion_errors", "champion_card"],
                "champion_error_map",
                name="plot_error_map",
            ),
            Node(
                plot_importances, "champion_card", "champion_importances", name="plot_importances"
            ),
            Node(
                write_report,
                {
                    "leaderboard": "leaderboard",
                    "history": "leaderboard_history",
                    "decision": "promotion_decision",
                    "champion": "champion_card",
                    "coverage": "population_coverage",
                    "versions": "params:versions",
                    "split": "params:split",
                },
                "report",
                name="write_report",
            ),
        ],
        tags=["reporting"],
    )
