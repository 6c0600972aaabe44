"""Routes of the web UI: the pages, their static files and the read-only data they show.

The pages talk to the service's JSON endpoints; the routes here only add what the API has
no endpoint for. They read files the pipelines wrote under the configured data root
(``${globals:data_root}``), never the model:

- ``GET /ui/api/config``: the form's fields, their descriptions, units and valid ranges
  (the ranges are ``california_housing.schema.RANGES``, not retyped);
- ``GET /ui/api/report``: the last report's leaderboard, figures and promotion decision
  (``08_reporting/``), and ``GET /ui/api/report/figures/{name}`` for one figure;
- ``GET /monitoring/latest``: the latest monitoring decision
  (``08_reporting/monitoring/decision.json``), or 404 saying how to make one.
"""

from __future__ import annotations

import csv
import json
import math
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from california_housing.schema import RANGES, RAW_FEATURES

#: The pages: path, title, one-line purpose and script (page.html is their one template).
PAGES: tuple[tuple[str, str, str, str], ...] = (
    (
        "/ui/",
        "Predict",
        "One block group: its median house value, by the model the service serves.",
        "predict.js",
    ),
    (
        "/ui/batch",
        "Batch",
        "Score a CSV file of block groups; download the predictions.",
        "batch.js",
    ),
    (
        "/ui/model",
        "Model",
        "The champion the service serves, and how it ranked in the last report.",
        "model.js",
    ),
    (
        "/ui/monitoring",
        "Monitoring",
        "What the service predicted, how much, and the latest monitoring decision.",
        "monitoring.js",
    ),
)
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_FIGURE = re.compile(r"(comparison_[a-z0-9_]+|champion_error_map|champion_importances)\.png")
#: The figures the model page shows first, in this order; the others follow by name.
_FIRST_FIGURES = ("champion_error_map.png", "champion_importances.png", "comparison_overall.png")
#: Leaderboard columns the model page shows, in this order.
LEADERBOARD_COLUMNS = (
    "rank",
    "candidate",
    "data_version",
    "model_type",
    "eligible",
    "population_rmse",
    "population_mae",
    "population_r2",
    "holdout_rank",
    "holdout_rmse",
    "holdout_mae",
    "holdout_r2",
    "holdout_mape",
    "rmse",
    "train_seconds",
    "run_id",
    "start_time",
)

#: What each raw column means (scikit-learn's description of the data), its unit, a default
#: for the form (the real data's medians; a block group in Berkeley) and the input step.
FEATURE_HELP: dict[str, dict[str, Any]] = {
    "MedInc": {
        "description": "Median household income in the block group",
        "unit": "tens of thousands of US dollars (3.5 = $35,000)",
        "default": 3.5348,
        "step": 0.0001,
    },
    "HouseAge": {
        "description": "Median age of the houses in the block group",
        "unit": "years",
        "default": 29,
        "step": 1,
    },
    "AveRooms": {
        "description": "Average number of rooms per household",
        "unit": "rooms",
        "default": 5.2291,
        "step": 0.0001,
    },
    "AveBedrms": {
        "description": "Average number of bedrooms per household",
        "unit": "bedrooms",
        "default": 1.0488,
        "step": 0.0001,
    },
    "Population": {
        "description": "Number of people living in the block group",
        "unit": "people",
        "default": 1166,
        "step": 1,
    },
    "AveOccup": {
        "description": "Average number of people per household",
        "unit": "people per household",
        "default": 2.8181,
        "step": 0.0001,
    },
    "Latitude": {
        "description": "Latitude of the block group's centre",
        "unit": "degrees north",
        "default": 37.88,
        "step": 0.01,
    },
    "Longitude": {
        "description": "Longitude of the block group's centre",
        "unit": "degrees east (negative: west of Greenwich)",
        "default": -122.23,
        "step": 0.01,
    },
}


def feature_fields() -> list[dict[str, Any]]:
    """The predict form's fields, with the valid range of each from the one raw schema.

    Returns:
        One entry per raw feature, in the data's order: ``name``, ``description``,
        ``unit``, ``default``, ``step``, and ``min``/``max`` with ``min_inclusive`` /
        ``max_inclusive`` (``schema.RANGES`` is checked as ``min < value <= max``; a bound
        is ``None`` when there is none).
    """
    return [
        {
            "name": name,
            **FEATURE_HELP[name],
            "min": RANGES[name][0],
            "min_inclusive": False,
            "max": RANGES[name][1],
            "max_inclusive": True,
        }
        for name in RAW_FEATURES
    ]


def _static(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()


def _static_names() -> set[str]:
    folder = resources.files(__package__) / "static"
    return {
        item.name
        for item in folder.iterdir()
        if Path(item.name).suffix in _MEDIA_TYPES and item.name != "page.html"
    }


def _number(text: str | None) -> Any:
    """A CSV cell as int, float, bool or text; empty and NaN cells as ``None`` (no NaN in JSON)."""
    if text is None or text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return None
    integer = value.is_integer() and not any(c in text for c in ".eE")
    return int(value) if integer else value


def _no_constant(_name: str) -> None:
    """NaN and Infinity in a JSON file become ``null`` (a JSON answer cannot carry them)."""
    return None


def _pages() -> dict[str, bytes]:
    """Each page's HTML: page.html with its title, purpose, script and the navigation."""
    template = Template(_static("page.html").decode())
    pages = {}
    for path, title, lead, script in PAGES:
        nav = "".join(
            f'<a href="{href}"'
            + (' class="active" aria-current="page"' if href == path else "")
            + f">{name}</a>"
            for href, name, _, _ in PAGES
        )
        pages[path] = template.substitute(title=title, lead=lead, script=script, nav=nav).encode()
    return pages


def _html_route(html: bytes) -> Any:
    def serve_page() -> Response:
        """A page of the UI."""
        return Response(html, media_type=_MEDIA_TYPES[".html"])

    return serve_page


def _read_json(path: Path) -> Any:
    """A JSON file, NaN and Infinity read as ``None``; raises OSError or ValueError."""
    return json.loads(path.read_text(), parse_constant=_no_constant)


def _last_report(reporting: Path) -> dict[str, Any]:
    """The leaderboard, figures and promotion decision under ``08_reporting``."""
    board_path = reporting / "leaderboard.csv"
    with board_path.open(newline="") as handle:
        rows = [
            {column: _number(row.get(column)) for column in LEADERBOARD_COLUMNS}
            for row in csv.DictReader(handle)
        ]
    figures = sorted(
        (p.name for p in reporting.glob("*.png") if _FIGURE.fullmatch(p.name)),
        key=lambda name: (
            _FIRST_FIGURES.index(name) if name in _FIRST_FIGURES else len(_FIRST_FIGURES),
            name,
        ),
    )
    promotion_path = reporting / "promotion_decision.json"
    try:
        promotion = _read_json(promotion_path) | {"decided_at": _modified(promotion_path)}
    except (OSError, ValueError, TypeError):  # none yet, or not a decision
        promotion = None
    return {
        "leaderboard": rows,
        "figures": [{"name": name, "url": f"/ui/api/report/figures/{name}"} for name in figures],
        "promotion": promotion,
        "updated_at": _modified(board_path),
    }


def _modified(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def create_router(data_root: Path | str, *, env: str | None = None) -> APIRouter:
    """Build the UI's routes.

    Args:
        data_root: The project's data root (``${globals:data_root}``, absolute or relative
            to the working directory): where the reporting and monitoring pipelines write.
        env: The Kedro environment the service runs in, named in the pages' hints
            (``kedro serve --env ENV``, ``kedro run --env ENV``).

    Returns:
        A router with the pages under ``/ui`` and ``GET /monitoring/latest``; include it
        with ``app.include_router(...)``.
    """
    root = Path(data_root)
    reporting = root / "08_reporting"
    decision_path = reporting / "monitoring" / "decision.json"
    env_option = f" --env {env}" if env else ""
    try:
        shown_root = root.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:  # outside the project: do not show a machine's path
        shown_root = "${globals:data_root}"
    assets = _static_names()
    router = APIRouter()
    for path, html in _pages().items():
        router.add_api_route(path, _html_route(html), methods=["GET"], include_in_schema=False)

    @router.get("/ui", include_in_schema=False)
    def ui_root() -> RedirectResponse:
        """``/ui`` -> ``/ui/`` (relative links in the pages need the slash)."""
        return RedirectResponse("/ui/")

    @router.get("/ui/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        """A page's CSS or JavaScript file."""
        if name not in assets:
            return JSONResponse({"detail": f"No UI file {name!r}."}, status_code=404)
        return Response(
            _static(name),
            media_type=_MEDIA_TYPES[Path(name).suffix],
            headers={"Cache-Control": "no-cache"},
        )

    @router.get("/ui/api/config", include_in_schema=False)
    def config() -> dict[str, Any]:
        """The form's fields and the commands the pages suggest."""
        return {
            "features": feature_fields(),
            "env": env,
            "serve_command": f"kedro serve{env_option}",
            "run_command": f"kedro run{env_option}",
            "monitoring_command": f"kedro run{env_option} --pipelines monitoring",
        }

    @router.get("/ui/api/report", include_in_schema=False)
    def report() -> Response:
        """The last report: leaderboard, figure names and the promotion decision."""
        if not (reporting / "leaderboard.csv").is_file():
            return JSONResponse(
                {
                    "detail": f"No report yet: {shown_root}/08_reporting/leaderboard.csv does "
                    f"not exist. Run `kedro run{env_option}` (its reporting pipeline ranks "
                    "the candidates and draws the comparison figures)."
                },
                status_code=404,
            )
        return JSONResponse(_last_report(reporting))

    @router.get("/ui/api/report/figures/{name}", include_in_schema=False)
    def figure(name: str) -> Response:
        """One figure of the last report (PNG)."""
        path = reporting / name
        if not _FIGURE.fullmatch(name) or not path.is_file():
            return JSONResponse(
                {"detail": f"No figure {name!r} in the last report."},
                status_code=404,
            )
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @router.get(
        "/monitoring/latest",
        tags=["monitoring"],
        responses={
            200: {"description": "The latest decision.json of the monitoring pipeline"},
            404: {"description": "The monitoring pipeline has not run yet"},
            503: {"description": "decision.json is being written or is damaged"},
        },
    )
    def monitoring_latest() -> Response:
        """The latest monitoring decision: retrain or not, why, drift per feature, live error."""
        if not decision_path.is_file():
            return JSONResponse(
                {
                    "detail": "No monitoring decision yet: "
                    f"{shown_root}/08_reporting/monitoring/decision.json does not exist. "
                    f"Run `kedro run{env_option} --pipelines monitoring` once the service "
                    "has logged predictions."
                },
                status_code=404,
            )
        try:
            decision = _read_json(decision_path)
        except (OSError, ValueError):
            return JSONResponse(
                {
                    "detail": "The monitoring decision could not be read (it is being written "
                    f"or is damaged); retry, or rerun `kedro run{env_option} --pipelines "
                    "monitoring`."
                },
                status_code=503,
            )
        if not isinstance(decision, dict):
            return JSONResponse(
                {"detail": "The monitoring decision is not a JSON object; rerun monitoring."},
                status_code=503,
            )
        decision.setdefault("written_at", _modified(decision_path))
        return JSONResponse(decision)

    return router
