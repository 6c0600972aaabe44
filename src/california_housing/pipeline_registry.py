"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

#: Stages of the default run, in order.
DEFAULT_STAGES = ("data_processing", "data_science", "tuning", "reporting")


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects; ``__default__`` runs
        every stage of :data:`DEFAULT_STAGES` that exists.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_STAGES if name in pipelines), Pipeline([])
    )
    return pipelines
