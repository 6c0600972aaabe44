"""Wiring of the monitoring pipeline."""

from kedro.pipeline import Node, Pipeline

from california_housing.pipelines.monitoring.nodes import (
    compute_drift,
    compute_live_error,
    decide_retraining,
    prepare_window,
    select_reference,
    summarise_traffic,
)
from california_housing.pipelines.monitoring.report import (
    plot_monitoring,
    render_html,
    tracking_record,
    write_report,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    """Read the prediction log's window, compare it with the champion's reference, decide.

    Returns:
        The monitoring pipeline.
    """
    return Pipeline(
        [
            Node(
                select_reference,
                ["registered_champion", "champion_splits"],
                ["monitoring_champion", "monitoring_reference", "monitoring_reference_predictions"],
                name="select_reference",
            ),
            Node(
                prepare_window,
                ["monitoring_predictions", "monitoring_feedback"],
                "monitoring_window",
                name="prepare_window",
            ),
            Node(
                summarise_traffic,
                ["monitoring_window", "params:monitoring.window"],
                "monitoring_traffic",
                name="summarise_traffic",
            ),
            Node(
                compute_drift,
                [
                    "monitoring_window",
                    "monitoring_reference",
                    "monitoring_reference_predictions",
                    "monitoring_champion",
                    "params:monitoring.drift",
                ],
                "monitoring_drift",
                name="compute_drift",
            ),
            Node(
                compute_live_error,
                [
                    "monitoring_window",
                    "monitoring_champion",
                    "params:monitoring.live_error",
                    "population_test",
                    "params:split.place_resolution",
                ],
                ["monitoring_live_error", "monitoring_error_over_time"],
                name="compute_live_error",
            ),
            Node(
                decide_retraining,
                [
                    "monitoring_drift",
                    "monitoring_live_error",
                    "monitoring_traffic",
                    "monitoring_champion",
                    "params:monitoring",
                ],
                "monitoring_decision",
                name="decide_retraining",
            ),
            Node(
                plot_monitoring,
                {
                    "window": "monitoring_window",
                    "reference": "monitoring_reference",
                    "reference_predictions": "monitoring_reference_predictions",
                    "drift": "monitoring_drift",
                    "error_over_time": "monitoring_error_over_time",
                    "live_error": "monitoring_live_error",
                },
                "monitoring_figures",
                name="plot_monitoring",
            ),
            Node(
                write_report,
                ["monitoring_decision", "monitoring_drift"],
                "monitoring_report",
                name="write_monitoring_report",
            ),
            Node(
                render_html,
                ["monitoring_decision", "monitoring_drift", "monitoring_figures"],
                ["monitoring_report_html", "monitoring_figure_files"],
                name="render_monitoring_html",
            ),
            Node(
                tracking_record,
                [
                    "monitoring_decision",
                    "monitoring_report",
                    "monitoring_report_html",
                    "monitoring_figure_files",
                ],
                "monitoring_run",
                name="record_monitoring_run",
            ),
        ],
        tags=["monitoring"],
    )
