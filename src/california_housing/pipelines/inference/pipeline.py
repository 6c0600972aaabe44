"""Wiring of the inference pipeline."""

from kedro.pipeline import Node, Pipeline

from california_housing.pipelines.inference.nodes import score_rows, validate_rows


def create_pipeline(**kwargs: object) -> Pipeline:
    """Score a file of new rows with the registry's champion.

    ``kedro run --pipelines inference --params inference_input=path/to/rows.csv``
    reads another file.

    Returns:
        The inference pipeline.
    """
    return Pipeline(
        [
            Node(
                validate_rows,
                ["inference_input", "params:inference.id_column"],
                "inference_rows",
                name="validate_rows",
            ),
            Node(
                score_rows,
                ["inference_rows", "registered_champion", "params:versions"],
                "inference_predictions",
                name="score_rows",
            ),
        ],
        tags=["inference"],
    )
