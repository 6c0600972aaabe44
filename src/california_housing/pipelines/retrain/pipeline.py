"""Wiring of the retrain pipeline: feedback source + the training loop, one split."""

from kedro.pipeline import Node, Pipeline

from california_housing import structure
from california_housing.pipelines import data_processing, data_science, reporting, tuning
from california_housing.pipelines.retrain.nodes import (
    append_feedback,
    extend_split,
    prepare_feedback_source,
    summarise_retraining,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    """Add the labelled feedback to the raw data and run the training loop on it.

    - the feedback rows are validated by the raw schema and de-duplicated, then appended
      to the raw data (``raw_with_feedback``) and go through ``data_processing`` as the
      raw data does, except the split: raw rows keep their assignment, feedback rows join
      train (``extend_split``);
    - the zoo is retrained (``data_science``), the tuned candidate refit with the search's
      best parameters (``tuning`` from ``best_params``: the study itself is not rerun);
    - ``reporting`` ranks them on the common holdout and its promotion gate decides.

    Returns:
        The retrain pipeline.
    """
    tuned = [f"{version}.{structure.tuned_model()}_tuned" for version in structure.tuned_versions()]
    feedback = Pipeline(
        [
            Node(
                prepare_feedback_source,
                [
                    "labelled_feedback",
                    "california_housing_raw",
                    "params:split",
                    "params:retrain.min_feedback_rows",
                ],
                ["feedback_source", "feedback_provenance"],
                name="prepare_feedback_source",
            ),
            Node(
                append_feedback,
                ["california_housing_raw", "feedback_source"],
                "raw_with_feedback",
                name="append_feedback",
            ),
            Node(
                extend_split,
                [
                    "validated_raw",
                    "feedback_source",
                    "params:split.test_size",
                    "params:split.seed",
                ],
                "split_assignment",
                name="extend_split",
            ),
        ]
    )
    processing = data_processing.create_pipeline()
    # every node but the one that splits (extend_split replaces it), fed raw + feedback
    processing = Pipeline(
        Pipeline([n for n in processing.nodes if "split_assignment" not in n.outputs]),
        inputs={"california_housing_raw": "raw_with_feedback"},
    )
    training = data_science.create_pipeline()
    if tuned:  # the refit from the search's best parameters, with each version's settings
        search = tuning.create_pipeline()
        training += search.from_inputs(*(f"{name}.best_params" for name in tuned))
        training += search.to_outputs(*(f"{name}.tuning_settings" for name in tuned))
    summary = Pipeline(
        [
            Node(
                summarise_retraining,
                ["feedback_provenance", "promotion_decision"],
                ["retrain_summary", "retrain_report", "retrain_metrics"],
                name="summarise_retraining",
            )
        ]
    )
    return (feedback + processing + training + reporting.create_pipeline() + summary).tag("retrain")
