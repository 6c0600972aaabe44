"""Request and response schemas of the API, derived from the one raw schema.

A row's fields are ``schema.RAW_FEATURES`` with the bounds of ``schema.RANGES``
(``low < value <= high``) and finite values only, so a row the API accepts is a row the
``inference`` pipeline accepts. Numbers only: integers are accepted where floats are
expected, strings and booleans are not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from typing_extensions import TypedDict

from california_housing.schema import RANGES, RAW_FEATURES, TARGET

UNIT = "100k USD"

EXAMPLE_ROW = {
    "MedInc": 8.3252,
    "HouseAge": 41,
    "AveRooms": 6.984127,
    "AveBedrms": 1.02381,
    "Population": 322,
    "AveOccup": 2.555556,
    "Latitude": 37.88,
    "Longitude": -122.23,
}


def _number(name: str) -> Any:
    low, high = RANGES[name]
    return Annotated[
        float,
        Field(strict=True, allow_inf_nan=False, gt=low, le=high, description=f"{name}"),
    ]


#: One row to score: the eight raw columns, no others.
Row = TypedDict("Row", {name: _number(name) for name in RAW_FEATURES})  # type: ignore[misc]
Row.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]


def predict_request_model(max_rows: int) -> type[BaseModel]:
    """The ``/predict`` body model for a row limit.

    Args:
        max_rows: Most rows per request.

    Returns:
        A pydantic model ``{"rows": [Row, ...]}`` with 1..max_rows rows.
    """
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(
            extra="forbid", json_schema_extra={"examples": [{"rows": [EXAMPLE_ROW]}]}
        ),
        rows=(list[Row], Field(min_length=1, max_length=max_rows)),
    )


class PredictionOut(BaseModel):
    """One prediction, in the order of the request's rows."""

    prediction_id: str = Field(description="uuid4 hex; give it back to /feedback")
    predicted_MedHouseVal: float
    unit: str = Field(UNIT, description="Unit of the prediction")
    out_of_domain: bool = Field(description="Outside the model's training domain")
    domain_violations: list[str] = Field(description="Rules of the training domain broken")


class PredictResponse(BaseModel):
    """Answer of ``/predict``."""

    model_name: str
    model_version: int
    predictions: list[PredictionOut]

    model_config = ConfigDict(protected_namespaces=())


class FeedbackItem(BaseModel):
    """The observed value for a prediction."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: Annotated[str, Field(min_length=1, max_length=64)]
    MedHouseVal: Annotated[
        float,
        Field(strict=True, allow_inf_nan=False, gt=RANGES[TARGET][0], le=RANGES[TARGET][1]),
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


class PredictionRecord(BaseModel):
    """One logged prediction, as ``/predictions`` lists it."""

    model_config = ConfigDict(protected_namespaces=())

    prediction_id: str
    request_id: str
    created_at: datetime
    model_name: str
    model_version: int
    MedInc: float
    HouseAge: float
    AveRooms: float
    AveBedrms: float
    Population: float
    AveOccup: float
    Latitude: float
    Longitude: float
    predicted_MedHouseVal: float
    out_of_domain: bool
    domain_violations: list[str]
    latency_ms: float
    MedHouseVal: float | None = Field(None, description="Feedback, when received")


class PredictionsPage(BaseModel):
    """Answer of ``/predictions``."""

    total: int
    items: list[PredictionRecord]


class Status(BaseModel):
    """Answer of ``/health`` and ``/ready``."""

    status: str
    detail: str | None = None


ROWS_ADAPTER = TypeAdapter(list[Row])
