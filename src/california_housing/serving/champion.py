"""The served model: the registry alias resolved to a version, loaded, and followed.

The alias (``champion``) is resolved to a version number at start, and the version itself is
loaded (``models:/<name>/<version>`` with the sklearn flavour: no pyfunc schema checks on the
request path). :class:`Champion` checks where the alias points every ``poll_seconds`` and on
``POST /reload``; a new version is loaded and tried on one row *before* it replaces the old
one, and a request uses the model it started with, so a switch drops no request.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from california_housing.filters import check_filters
from california_housing.schema import EXAMPLE_ROW, RAW_FEATURES
from california_housing.scoring import MatrixModel, score

logger = logging.getLogger(__name__)

#: A real row, scored once by every model before it is served.
WARMUP_ROW = np.array([[EXAMPLE_ROW[name] for name in RAW_FEATURES]])


class NoChampionError(RuntimeError):
    """The registry has no version under the alias (or no such model)."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and what the API says about it."""

    name: str
    version: int
    alias: str
    model: Any
    candidate: str
    data_version: str
    population: str | None
    population_rmse: float | None
    holdout_rmse: float | None
    run_id: str | None
    filters: dict[str, dict[str, float]]
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def describe(self) -> dict[str, Any]:
        """``/model``'s answer."""
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "candidate": self.candidate,
            "data_version": self.data_version,
            "population": self.population,
            "population_rmse": self.population_rmse,
            "holdout_rmse": self.holdout_rmse,
            "domain": self.filters,
            "loaded_at": self.loaded_at,
            "run_id": self.run_id,
        }


class Champion:
    """Holds the served model and moves it to wherever the alias points.

    Args:
        name: Registered model name.
        alias: Alias to follow.
        tracking_uri: MLflow tracking (and registry) URI.
        filters: Filters per data version (a model's domain is its version's filters).
    """

    def __init__(
        self,
        name: str,
        alias: str,
        tracking_uri: str,
        filters: dict[str, dict[str, Any]],
    ) -> None:
        """Configure; nothing is loaded until :meth:`refresh`."""
        self.name = name
        self.alias = alias
        self.tracking_uri = tracking_uri
        self.filters = filters
        self.current: ServedModel | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()  # one refresh at a time

    def _client(self) -> Any:
        import mlflow  # noqa: PLC0415

        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def refresh(self) -> bool:
        """Resolve the alias; load and switch to its version if it is not the one served.

        Returns:
            Whether the served model changed.

        Raises:
            NoChampionError: When the alias points nowhere.
        """
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        with self._lock:
            try:
                version = self._client().get_model_version_by_alias(self.name, self.alias)
            except MlflowException as exc:
                self.last_error = f"no version of model {self.name!r} has alias {self.alias!r}"
                raise NoChampionError(
                    f"The registry has no model {self.name!r} with alias {self.alias!r}: run "
                    "`kedro run` (in this environment) to train and promote one, or set "
                    "SERVING_MODEL_ALIAS / serving.model_alias."
                ) from exc
            number = int(version.version)
            if self.current is not None and self.current.version == number:
                return False
            served = self._load(version)
            previous, self.current = self.current, served
            self.last_error = None
        logger.info(
            "Serving %s version %d (alias %s)%s.",
            self.name,
            number,
            self.alias,
            f", was version {previous.version}" if previous else "",
        )
        return True

    def _load(self, version: Any) -> ServedModel:
        import mlflow  # noqa: PLC0415

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        # into a temporary copy: loaded in place from a local artifact store, MLflow writes a
        # file into the store's model folder (which fails on a read-only mount)
        with tempfile.TemporaryDirectory(prefix="champion-") as copy:
            uri = f"models:/{self.name}/{version.version}"
            loaded = mlflow.sklearn.load_model(uri, dst_path=copy)
        model = MatrixModel(loaded)
        data_version = version.tags.get("data_version", "")
        if data_version not in self.filters:
            logger.warning(
                "%s version %s has data version %r, which the configuration does not define; "
                "its rows are not checked against a training domain.",
                self.name,
                version.version,
                data_version,
            )
        filters = self.filters.get(data_version, {})
        check_filters(filters)
        score(model, WARMUP_ROW, filters)  # fails here, before the switch, if it cannot score
        scores = {
            name: float(version.tags[name]) if version.tags.get(name) else None
            for name in ("population_rmse", "holdout_rmse")
        }
        logger.info(
            "%s version %s scores %s.",
            self.name,
            version.version,
            "numpy rows directly" if model.fast else "through a DataFrame (slower)",
        )
        return ServedModel(
            name=self.name,
            version=int(version.version),
            alias=self.alias,
            model=model,
            candidate=version.tags.get("candidate", ""),
            data_version=data_version,
            population=version.tags.get("population"),
            **scores,
            run_id=version.run_id,
            filters={c: {op: float(v) for op, v in ops.items()} for c, ops in filters.items()},
        )
