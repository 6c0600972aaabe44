"""Project commands that Kedro adds to its CLI (``kedro traffic``, ``kedro monitor``, ...).

Kedro loads the click group ``cli`` of this module as the project's own commands; ``run`` is
Kedro's own command, re-exported because ``python -m california_housing`` looks it up here.
"""

from __future__ import annotations

import click
from kedro.framework.cli.project import run

from california_housing.traffic import monitor, traffic

__all__ = ["cli", "run"]


@click.group(name="california_housing")
def cli() -> None:
    """California Housing project commands."""


cli.add_command(traffic)
cli.add_command(monitor)
