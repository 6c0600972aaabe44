"""Wiring of the reporting pipeline."""

import warnings

from kedro.pipeline import Node, Pipeline

from california_housing import structure
from california_housing.pipelines.reporting.nodes import (
    build_leaderboard,
    decide_promotion,
    leaderboard_markdown,
    plot_comparisons,
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
    """Gather every candidate from MLflow, rank, report and promote the champion.

    Returns:
        The reporting pipeline.
    """
    candidates = [f"{v}.{m}" for v in structure.versions() for m in structure.models()]
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
            {"candidate_runs": "candidate_runs"} | {name: f"{name}.metrics" for name in candidates},
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
                ["registered_champion", "validated_raw", "common_holdout_ids"],
                "current_champion",
                name="rescore_champion",
            ),
            Node(
                decide_promotion,
                ["leaderboard", "current_champion"],
                "promotion_decision",
                name="decide_promotion",
            ),
            Node(apply_promotion, "promotion_decision", "champion", name="apply_promotion"),
            Node(
                write_report,
                {
                    "leaderboard": "leaderboard",
                    "history": "leaderboard_history",
                    "decision": "promotion_decision",
                    "champion": "champion",
                    "versions": "params:versions",
                    "split": "params:split",
                },
                "report",
                name="write_report",
            ),
        ],
        tags=["reporting"],
    )
