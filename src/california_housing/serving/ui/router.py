"""Routes of the web UI: the pages, their static files and the read-only data they show.

The pages talk to the service's JSON endpoints; the routes here only add what the API has
no endpoint for. They read files the pipelines wrote where the catalog places them
(``ServingSettings.leaderboard_path`` and ``promotion_path``), never the model:

- ``GET /ui/api/config``: the form's fields, their descriptions, units and valid ranges
  (the ranges are ``california_housing.schema.RANGES``, not retyped);
- ``GET /ui/api/report``: the last report's leaderboard (``reports.LEADERBOARD_COLUMNS``),
  figures and promotion decision, and ``GET /ui/api/report/figures/{name}`` for one figure.
"""

from __future__ import annotations

import csv
import math
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from california_housing.reports import LEADERBOARD_COLUMNS
from california_housing.schema import RANGES, RAW_FEATURES
from california_housing.serving.dependencies import SettingsDep
from california_housing.serving.files import env_option, modified, read_json, shown

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


def _last_report(board_path: Path, promotion_path: Path | None) -> dict[str, Any]:
    """The leaderboard, the figures beside it and the promotion decision."""
    reporting = board_path.parent
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
    try:
        promotion = read_json(promotion_path) | {"decided_at": modified(promotion_path)}
    except (OSError, ValueError, TypeError):  # none yet, or not a decision
        promotion = None
    return {
        "leaderboard": rows,
        "figures": [{"name": name, "url": f"/ui/api/report/figures/{name}"} for name in figures],
        "promotion": promotion,
        "updated_at": modified(board_path),
    }


_PAGES = _pages()
_ASSETS = _static_names()
#: The pages and their files are not part of the API's OpenAPI description.
router = APIRouter(include_in_schema=False)


def _page(path: str) -> Any:
    def serve_page() -> Response:
        """A page of the UI."""
        return Response(_PAGES[path], media_type=_MEDIA_TYPES[".html"])

    return serve_page


for _path in _PAGES:
    router.add_api_route(_path, _page(_path), methods=["GET"])


@router.get("/ui")
def ui_root() -> RedirectResponse:
    """``/ui`` -> ``/ui/`` (relative links in the pages need the slash)."""
    return RedirectResponse("/ui/")


@router.get("/ui/static/{name}")
def static_file(name: str) -> Response:
    """A page's CSS or JavaScript file."""
    if name not in _ASSETS:
        return JSONResponse({"detail": f"No UI file {name!r}."}, status_code=404)
    return Response(
        _static(name),
        media_type=_MEDIA_TYPES[Path(name).suffix],
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/ui/api/config")
def config(settings: SettingsDep) -> dict[str, Any]:
    """The form's fields and the commands the pages suggest."""
    option = env_option(settings.env)
    return {
        "features": feature_fields(),
        "env": settings.env,
        "serve_command": f"kedro serve{option}",
        "run_command": f"kedro run{option}",
        "monitoring_command": f"kedro run{option} --pipelines monitoring",
    }


@router.get("/ui/api/report")
def report(settings: SettingsDep) -> Response:
    """The last report: leaderboard, figure names and the promotion decision."""
    board = settings.leaderboard_path
    if board is None or not board.is_file():
        return JSONResponse(
            {
                "detail": f"No report yet: {shown(board, 'leaderboard')} does not exist. Run "
                f"`kedro run{env_option(settings.env)}` (its reporting pipeline ranks the "
                "candidates and draws the comparison figures)."
            },
            status_code=404,
        )
    return JSONResponse(_last_report(board, settings.promotion_path))


def _reporting_folder(settings: SettingsDep) -> Path | None:
    return settings.leaderboard_path.parent if settings.leaderboard_path else None


@router.get("/ui/api/report/figures/{name}")
def figure(name: str, reporting: Annotated[Path | None, Depends(_reporting_folder)]) -> Response:
    """One figure of the last report (PNG)."""
    path = reporting / name if reporting is not None else None
    if path is None or not _FIGURE.fullmatch(name) or not path.is_file():
        return JSONResponse({"detail": f"No figure {name!r} in the last report."}, 404)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})
