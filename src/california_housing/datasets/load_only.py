"""The base of datasets the pipelines only read: saving one is an error that says why."""

from __future__ import annotations

from typing import Any, ClassVar

from kedro.io import AbstractDataset, DatasetError


class LoadOnlyDataset(AbstractDataset[None, Any]):
    """A dataset whose data something else writes; :meth:`save` raises, naming what.

    Attributes:
        written_by: Who writes the data, for the error (``trials are stored as they run``).
    """

    written_by: ClassVar[str] = ""

    def save(self, data: None) -> None:
        """Nothing to save: the data is written elsewhere.

        Raises:
            DatasetError: Always.
        """
        reason = f": {self.written_by}" if self.written_by else ""
        raise DatasetError(f"{type(self).__name__} is load-only{reason}.")
