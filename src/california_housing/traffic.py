"""Traffic simulator: replay rows of the real data through the live API (``kedro traffic``).

Which rows: by default, rows of the served population (``population`` in configuration: the
whole state), from both sides of the one shared split, by place (``california_housing.places``):

- every test row: monitoring measures live error on feedback at these places, which no model
  trained on;
- the train rows that are not at a test row's place: their feedback is what retraining may
  add to the next model's training data (feedback at a test place never is).

``--champion-domain`` keeps the earlier draw: test rows inside the served champion's data-version
filters only.

Scenarios are configuration (``traffic.scenarios`` in ``parameters_monitoring.yml``):

- ``control``: the rows, unchanged;
- ``drift``: the same rows with columns scaled (``scale: {MedInc: 1.5}``: incomes up by
  half, clipped to the largest value the column has in the data). Only the scaled columns
  move; the house values (the ground truth posted with ``--feedback``) do not.

Sampling is seeded: the same seed, rows and data give the same requests.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from california_housing.schema import RAW_FEATURES, TARGET

if TYPE_CHECKING:
    import pandas as pd

# Heavy imports (numpy, pandas, the pipelines) happen inside the functions: Kedro imports
# this module for every `kedro` command.


class TrafficError(RuntimeError):
    """The service refused or failed a request; the message says which and why."""


def scenario_rows(
    validated: pd.DataFrame,
    split: pd.DataFrame,
    filters: Mapping[str, Mapping[str, float]],
    scenario: Mapping[str, Any],
    *,
    rows: int,
    seed: int,
    place_resolution: float | None = None,
) -> pd.DataFrame:
    """Draw the rows of a scenario.

    Args:
        validated: The validated raw frame (index ``row_id``, 8 features + target).
        split: The shared train/test assignment (``split`` column).
        filters: Filters of the rows to draw from (the served population's, or the
            champion's domain), ``{column: {op: value}}``.
        scenario: ``{"scale": {column: factor}}``.
        rows: How many rows to draw (with replacement only when more than available).
        seed: Random seed.
        place_resolution: When given, the train rows that are not at a test row's place join
            the test rows (see the module docstring); ``None``: test rows only.

    Returns:
        ``rows`` rows: the 8 features (shifted as the scenario says), the true target and
        their ``split`` side, indexed by their raw ``row_id``.
    """
    import numpy as np  # noqa: PLC0415

    from california_housing.filters import row_mask  # noqa: PLC0415
    from california_housing.places import at_places  # noqa: PLC0415

    if rows < 1:
        raise ValueError(f"--rows must be at least 1, got {rows}.")
    side = split["split"].reindex(validated.index)
    inside = row_mask(validated, filters)
    test = inside & side.eq("test")
    keep = test.copy()
    if place_resolution is not None:
        train = inside & side.eq("train")
        keep[train] = ~at_places(validated[train], validated[test], place_resolution)
    pool = validated.loc[keep, [*RAW_FEATURES, TARGET]].assign(split=side[keep])
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(pool), size=rows, replace=rows > len(pool))
    drawn = pool.iloc[picked].copy()
    for column, factor in (scenario.get("scale") or {}).items():
        if column not in RAW_FEATURES:
            raise ValueError(f"Scenario scales unknown column {column!r}; use {RAW_FEATURES}.")
        drawn[column] = (drawn[column] * float(factor)).clip(upper=validated[column].max())
    return drawn


def _post(url: str, body: Mapping[str, Any], api_key: str | None, timeout: float) -> Any:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    request = urllib.request.Request(  # noqa: S310 (the URL is the user's service)
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    return _answer(request, timeout)


def get_json(url: str, timeout: float = 10.0) -> Any:
    """GET a JSON document.

    Args:
        url: Full URL.
        timeout: Seconds.

    Returns:
        The decoded JSON.
    """
    return _answer(urllib.request.Request(url), timeout)  # noqa: S310 (the user's service)


def _answer(request: urllib.request.Request, timeout: float) -> Any:
    """The decoded JSON answer; a refusal or an unreachable service is a :class:`TrafficError`."""
    what = f"{request.get_method()} {request.full_url}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise TrafficError(f"{what} answered {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise TrafficError(
            f"Cannot reach {request.full_url} ({exc.reason}); is `kedro serve` running there?"
        ) from None


def replay(
    base_url: str,
    frame: pd.DataFrame,
    *,
    batch_rows: int,
    feedback: bool,
    api_key: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Send rows to ``/predict`` in batches and, with ``feedback``, their true values.

    Args:
        base_url: The service, e.g. ``http://127.0.0.1:8000``.
        frame: Output of :func:`scenario_rows`.
        batch_rows: Rows per request.
        feedback: Whether to post the true ``MedHouseVal`` of every answered row.
        api_key: The service's API key (needed for ``/feedback`` when it has one).
        timeout: Seconds per request.

    Returns:
        ``rows``, ``requests``, ``feedback_rows``, ``model_versions`` (rows per version
        that answered), ``out_of_domain`` and ``prediction_ids``.
    """
    base = base_url.rstrip("/")
    counts = dict.fromkeys(("rows", "requests", "feedback_rows", "out_of_domain"), 0)
    summary: dict[str, Any] = counts | {"model_versions": {}, "prediction_ids": []}
    for start in range(0, len(frame), max(batch_rows, 1)):
        part = frame.iloc[start : start + batch_rows]
        answer = _post(
            f"{base}/predict",
            {"rows": part[RAW_FEATURES].to_dict(orient="records")},
            api_key,
            timeout,
        )
        predictions = answer["predictions"]
        version = str(answer["model_version"])
        summary["model_versions"][version] = summary["model_versions"].get(version, 0) + len(
            predictions
        )
        summary["rows"] += len(predictions)
        summary["requests"] += 1
        summary["out_of_domain"] += sum(bool(p["out_of_domain"]) for p in predictions)
        ids = [p["prediction_id"] for p in predictions]
        summary["prediction_ids"] += ids
        if feedback:
            body = {
                "feedback": [
                    {"prediction_id": pid, TARGET: float(value)}
                    for pid, value in zip(ids, part[TARGET], strict=True)
                ]
            }
            _post(f"{base}/feedback", body, api_key, timeout)
            summary["feedback_rows"] += len(ids)
    return summary


def project_context(env: str | None) -> Any:
    """The Kedro context of the project in the working directory (MLflow set up by its hooks).

    Args:
        env: The Kedro environment (``None``: the default).

    Returns:
        The loaded ``KedroContext``.
    """
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(Path.cwd())
    return KedroSession.create(env=env).load_context()


@click.command()
@click.option(
    "--scenario",
    type=click.Choice(["control", "drift"]),
    required=True,
    help="control: test-split rows as they are; drift: with the configured shift.",
)
@click.option("--rows", type=click.IntRange(1), default=1000, show_default=True)
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Base URL of the running service (`kedro serve`).",
)
@click.option("--feedback", is_flag=True, help="Also post the rows' true MedHouseVal.")
@click.option(
    "--champion-domain",
    is_flag=True,
    help="Draw only test rows inside the served champion's data-version filters (the earlier "
    "draw) instead of the served population's test and train places.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--env",
    "-e",
    default=None,
    envvar="KEDRO_ENV",
    help="Kedro environment whose data and scenarios are used.",
)
@click.option(
    "--api-key",
    envvar="SERVING_API_KEY",
    default=None,
    help="The service's API key (default: $SERVING_API_KEY).",
)
def traffic(  # click passes options by name
    *,
    scenario: str,
    rows: int,
    url: str,
    feedback: bool,
    champion_domain: bool,
    seed: int,
    env: str | None,
    api_key: str | None,
) -> None:
    """Replay rows of the real data through the live API.

    The rows come from the served population (`population` in parameters_data_processing.yml,
    default the whole state): its test rows, where monitoring measures live error, and its
    train rows away from test places, whose feedback retraining may use. With
    --champion-domain, only test rows inside the served champion's filters (GET /model).
    `drift` shifts them as `traffic.scenarios.drift` in parameters_monitoring.yml says.
    Prints a JSON summary.
    """
    from california_housing.pipelines.data_processing.nodes import (  # noqa: PLC0415
        assign_split,
        validate_raw,
    )

    context = project_context(env)
    params = context.params
    served = get_json(url.rstrip("/") + "/model")
    version = served.get("data_version")
    if version not in params["versions"]:
        raise click.ClickException(
            f"The service's model was trained on data version {version!r}, unknown to "
            f"environment {env or 'local'!r} (versions: {sorted(params['versions'])})."
        )
    validated = validate_raw(context.catalog.load("california_housing_raw"))
    split = assign_split(validated, params["split"]["test_size"], params["split"]["seed"])
    if champion_domain:
        drawn_from = f"test rows of data version {version}'s domain"
        filters, resolution = params["versions"][version].get("filters") or {}, None
    else:
        drawn_from = params["population"].get("description", "the served population")
        filters = params["population"].get("filters") or {}
        resolution = params["split"]["place_resolution"]
    frame = scenario_rows(
        validated,
        split,
        filters,
        params["traffic"]["scenarios"][scenario],
        rows=rows,
        seed=seed,
        place_resolution=resolution,
    )
    try:
        summary = replay(
            url,
            frame,
            batch_rows=params["traffic"]["batch_rows"],
            feedback=feedback,
            api_key=api_key,
        )
    except TrafficError as exc:
        raise click.ClickException(str(exc)) from None
    summary.pop("prediction_ids")
    sides = {f"{side}_rows": int(n) for side, n in frame["split"].value_counts().items()}
    click.echo(
        json.dumps(
            {"scenario": scenario, "seed": seed, "data_version": version, "drawn_from": drawn_from}
            | sides
            | summary
        )
    )
