"""Request and response bodies of the API, derived from the one raw schema.

A row's fields are ``schema.RAW_FEATURES`` with the bounds of ``schema.RANGES``
(``low < value <= high``) and finite values only, so a row the API accepts is a row the
``inference`` pipeline accepts. Numbers only: integers are accepted where floats are
expected, strings and booleans are not. Column names (the target, the prediction) are the
constants of ``schema.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from typing_extensions import TypedDict

from california_housing.schema import (
    EXAMPLE_ROW,
    PREDICTION,
    RANGES,
    RAW_FEATURES,
    TARGET,
    TARGET_UNIT,
)


def _number(name: str) -> Any:
    low, high = RANGES[name]
    return Annotated[
        float,
        Field(strict=True, allow_inf_nan=False, gt=low, le=high, description=f"{name}"),
    ]


#: One row to score: the eight raw columns, no others.
Row = TypedDict("Row", {name: _number(name) for name in RAW_FEATURES})  # type: ignore[misc]
Row.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]


class PredictRequest(BaseModel):
    """Body of ``/predict``."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"rows": [EXAMPLE_ROW]}]}
    )

    rows: Annotated[
        list[Row],
        Field(min_length=1, description="1 to serving.max_rows (10,000 by default) rows"),
    ]


class PredictionOut(BaseModel):
    """One prediction, in the order of the request's rows."""

    model_config = ConfigDict(validate_by_name=True)

    prediction_id: str = Field(description="uuid4 hex; give it back to /feedback")
    predicted: float = Field(alias=PREDICTION, description=f"In {TARGET_UNIT}")
    unit: str = Field(TARGET_UNIT, description="Unit of the prediction")
    out_of_domain: bool = Field(description="Outside the model's training domain")
    domain_violations: list[str] = Field(description="Rules of the training domain broken")


class PredictResponse(BaseModel):
    """Answer of ``/predict``."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: int
    predictions: list[PredictionOut]


class FeedbackItem(BaseModel):
    """The observed value for a prediction."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True)

    prediction_id: Annotated[str, Field(min_length=1, max_length=64)]
    observed: Annotated[
        float,
        Field(
            alias=TARGET,
            strict=True,
            allow_inf_nan=False,
            gt=RANGES[TARGET][0],
            le=RANGES[TARGET][1],
            description=f"The observed {TARGET}, in {TARGET_UNIT}",
        ),
    ]


class FeedbackRequest(BaseModel):
    """Body of ``/feedback``."""

    model_config = ConfigDict(extra="forbid")

    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=10_000)]


class FeedbackResponse(BaseModel):
    """Answer of ``/feedback``."""

    received: int


class ModelInfo(BaseModel):
    """Answer of ``/model``: the model being served."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: int
    alias: str
    candidate: str
    data_version: str
    population: str | None
    population_rmse: float | None
    holdout_rmse: float | None
    domain: dict[str, dict[str, float]]
    loaded_at: datetime
    run_id: str | None


class ReloadResponse(ModelInfo):
    """Answer of ``/reload``: the model now served, and whether it changed."""

    changed: bool


#: One logged prediction with its feedback, as ``/predictions`` lists it (the columns of the
#: log's ``predictions`` table, then the observed value).
PredictionRecord = create_model(
    "PredictionRecord",
    __config__=ConfigDict(protected_namespaces=()),
    __doc__="One logged prediction, as ``/predictions`` lists it.",
    prediction_id=(str, ...),
    request_id=(str, ...),
    created_at=(datetime, ...),
    model_name=(str, ...),
    model_version=(int, ...),
    **{name: (float, ...) for name in [*RAW_FEATURES, PREDICTION]},  # type: ignore[arg-type]
    out_of_domain=(bool, ...),
    domain_violations=(list[str], ...),
    latency_ms=(float, ...),
    **{TARGET: (float | None, Field(None, description="Feedback, when received"))},  # type: ignore[arg-type]
)


class PredictionsPage(BaseModel):
    """Answer of ``/predictions``."""

    total: int
    items: list[PredictionRecord]  # type: ignore[valid-type]


class Status(BaseModel):
    """Answer of ``/health`` and ``/ready``."""

    status: str
    detail: str | None = None


class Problem(BaseModel):
    """An error: what is wrong and, where it helps, how to fix it."""

    detail: Any
