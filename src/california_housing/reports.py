"""The project's reports, rendered from Jinja2 templates (package data: ``templates/``).

Markdown templates are rendered as they are; HTML ones (``*.html.j2``) escape every value.
A value a template names but does not get is an error, not an empty string.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from california_housing.schema import TARGET, TARGET_UNIT

#: Error metrics of a candidate, on each set of test rows it is scored on.
METRICS = ("rmse", "mae", "r2", "mape")
#: Columns of the leaderboard (reporting pipeline) and of the web UI's copy of it, in order.
LEADERBOARD_COLUMNS = [
    "rank",
    "candidate",
    "data_version",
    "model_type",
    "eligible",
    *(f"population_{m}" for m in METRICS),
    "holdout_rank",
    *(f"holdout_{m}" for m in METRICS),
    *METRICS,
    "train_seconds",
    "n_population",
    "n_holdout",
    "n_test",
    "run_id",
    "parent_run_id",
    "start_time",
]


def rules_text(filters: dict[str, dict[str, float]]) -> str:
    """``{"Longitude": {"lt": -119.0}}`` -> ``Longitude < -119.0``; no filter: ``all rows``."""
    words = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=", "ne": "!="}
    rules = [
        f"`{column} {words.get(op, op)} {value}`"
        for column, ops in (filters or {}).items()
        for op, value in ops.items()
    ]
    return " and ".join(rules) or "all rows"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("california_housing", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters |= {"rules": rules_text, "code": lambda text: f"`{text}`"}
    environment.globals |= {"TARGET": TARGET, "TARGET_UNIT": TARGET_UNIT}
    return environment


def render(template: str, **context: Any) -> str:
    """Render one template of ``california_housing/templates``.

    Args:
        template: Its file name, e.g. ``training_report.md.j2``.
        **context: The values it shows.

    Returns:
        The rendered text.
    """
    return _environment().get_template(template).render(**context)
