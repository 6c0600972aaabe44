"""What a running service holds (the champion, the prediction log, the metrics) and its life.

At start (:meth:`Service.lifespan`) the log is opened and the model the alias points at is
loaded; then the alias is checked every ``poll_seconds``. At shutdown the log writes what it
still holds (or spills it to a file the next start writes first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from california_housing.serving.champion import Champion, NoChampionError
from california_housing.serving.log.writer import PredictionLog
from california_housing.serving.metrics import Metrics
from california_housing.serving.settings import ServingSettings

logger = logging.getLogger(__name__)


@dataclass
class Service:
    """The service's parts, built from its settings (nothing is loaded or opened yet)."""

    settings: ServingSettings
    champion: Champion = field(init=False)
    log: PredictionLog = field(init=False)
    metrics: Metrics = field(init=False, default_factory=Metrics)

    def __post_init__(self) -> None:
        """Build the champion holder and the log writer from the settings."""
        settings = self.settings
        self.champion = Champion(
            settings.model_name, settings.model_alias, settings.tracking_uri, settings.filters
        )
        self.log = PredictionLog(
            settings.log_db_url,
            buffer_rows=settings.log_buffer_rows,
            batch_rows=settings.log_batch_rows,
            flush_seconds=settings.log_flush_seconds,
            spill_path=Path(settings.log_spill_path) if settings.log_spill_path else None,
        )

    async def refresh(self, reason: str) -> bool:
        """Switch to the version the alias points at, if it moved.

        Args:
            reason: Why (``start``, ``poll``, ``reload``), for the log.

        Returns:
            Whether the served model changed (False too when the alias points nowhere).
        """
        try:
            changed = await asyncio.to_thread(self.champion.refresh)
        except NoChampionError as exc:
            logger.warning("%s (%s)", exc, reason)
            return False
        current = self.champion.current
        if changed and current is not None:
            self.metrics.served(current.name, current.version, current.alias)
        return changed

    async def follow_alias(self) -> None:
        """Check the alias every ``poll_seconds``, forever (a failed check changes nothing)."""
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            try:
                await self.refresh("poll")
            except Exception:
                logger.exception(
                    "Checking the %s alias failed; the served model is unchanged.",
                    self.settings.model_alias,
                )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Open the log and load the model; at shutdown, flush the log."""
        if self.settings.allow_unauthenticated and not self.settings.api_key:
            logger.warning(
                "Serving without an API key (serving.allow_unauthenticated): anyone who reaches "
                "this service can POST /feedback, whose labels flow into retraining, and POST "
                "/reload. Set SERVING_API_KEY to require a key."
            )
        await asyncio.to_thread(self.log.open)
        await self.refresh("start")
        poll = self.settings.poll_seconds > 0
        poller = asyncio.create_task(self.follow_alias()) if poll else None
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
            timeout = self.settings.shutdown_flush_seconds
            spilled = await asyncio.to_thread(self.log.close, timeout)
            if spilled:
                logger.error(
                    "%d prediction log rows were kept in %s.", spilled, self.log.spill_path
                )
