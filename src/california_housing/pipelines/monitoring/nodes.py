"""Nodes of the monitoring pipeline: pure functions of the log, the reference and config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from california_housing.pipelines.monitoring import stats
from california_housing.places import at_places
from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET

#: How the score live error is compared with reads.
_REFERENCE = {"population_rmse": "test RMSE", "holdout_rmse": "common-holdout RMSE"}


def _champion_or_fail(champion: Mapping[str, Any]) -> None:
    if not champion:
        raise ValueError(
            "No champion in the model registry: monitoring compares the served traffic with "
            "the champion's training data. Run `kedro run` (same --env) first."
        )


def select_reference(
    champion: Mapping[str, Any], splits: Mapping[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """The champion's description, its own training data and its predictions on its test split.

    Args:
        champion: The registry's champion (``data_version``, ``model``...), from
            ``registered_champion``.
        splits: The champion's own ``train`` and ``test`` splits, from
            ``champion_splits`` (its data version, as saved when it was trained).

    Returns:
        The champion without its model (for the other nodes, with the splits'
        ``split_version``), the reference rows (the 8 raw features of its train split),
        and a one-column frame of the champion's predictions on its test split (the
        predictions it makes on rows it has not seen).

    Raises:
        ValueError: When there is no champion, or the splits are another version's.
    """
    _champion_or_fail(champion)
    if splits.get("data_version") != champion["data_version"]:
        raise ValueError(
            f"The champion was trained on data version {champion['data_version']!r} but the "
            f"reference splits are of {splits.get('data_version')!r}; the champion moved "
            "during the run: run monitoring again."
        )
    predicted = champion["model"].predict(splits["test"][RAW_FEATURES])
    described = {k: v for k, v in champion.items() if k != "model"}
    return (
        described | {"split_version": splits["split_version"]},
        splits["train"][RAW_FEATURES].reset_index(drop=True),
        pd.DataFrame({PREDICTION: np.asarray(predicted, float)}),
    )


def scan_window(
    window: Iterable[np.ndarray],
    reference: pd.DataFrame,
    reference_predictions: pd.DataFrame,
    champion: Mapping[str, Any],
    drift: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, stats.Histogram]]:
    """One pass over the window's numbers: drift of every feature and of the predictions.

    The window is read a chunk at a time (``PredictionLogDataset``'s ``window_values``), so
    its size is not bounded by memory: each variable is compared with its reference as the
    chunks go by (:class:`~.stats.RunningComparison`, the whole window's numbers).
    Features are compared over every row; predictions over the rows the current champion
    version answered.

    Args:
        window: Float matrices, columns named by its ``columns`` attribute.
        reference: The champion's training rows (raw features).
        reference_predictions: The champion's predictions on its test split.
        champion: The registry's champion.
        drift: ``monitoring.drift``: ``psi``, ``ks_pvalue``, ``ks_statistic``, ``bins``
            and ``min_rows`` (fewer rows than this: nothing is assessed).

    Returns:
        The drift table (one row per variable, index ``feature``, the prediction as
        ``predicted_MedHouseVal``: psi, ks_statistic, ks_pvalue, drifted, means, row counts
        and ``assessed``, False with NaN statistics when too few rows), the window's
        latency quantiles (ms), and per variable a histogram of its current values.
    """
    columns = list(getattr(window, "columns", []))
    needed = [*RAW_FEATURES, PREDICTION, "model_version", "latency_ms"]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValueError(
            f"The window lacks columns {missing}; is `monitoring_predictions` the "
            "prediction log's `window_values` query?"
        )
    references = {c: reference[c].to_numpy(float) for c in RAW_FEATURES}
    references[PREDICTION] = reference_predictions[PREDICTION].to_numpy(float)
    bins = int(drift.get("bins", 10))
    running = {name: stats.RunningComparison(values, bins) for name, values in references.items()}
    figures = {
        name: stats.Histogram.between_quantiles(values) for name, values in references.items()
    }
    at = {name: columns.index(name) for name in needed}
    version, latencies = int(champion["version"]), []
    for chunk in window:
        served = chunk[:, at["model_version"]] == version
        for name, comparison in running.items():
            values = chunk[served, at[name]] if name == PREDICTION else chunk[:, at[name]]
            comparison.add(values)
            figures[name].add(values)
        latencies.append(chunk[:, at["latency_ms"]].copy())  # not a view: the chunk goes
    rows = {}
    for name, comparison in running.items():
        if comparison.rows >= drift["min_rows"]:
            rows[name] = comparison.result(drift) | {"assessed": True}
        else:
            rows[name] = {"drifted": False, "current_rows": comparison.rows, "assessed": False}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("feature")
    latency = stats.quantiles(np.concatenate(latencies) if latencies else np.zeros(0))
    return table, latency, figures


def summarise_traffic(
    volumes: pd.DataFrame,
    latency: Mapping[str, Any],
    live_error: Mapping[str, Any],
    window_bounds: Mapping[str, Any],
) -> dict[str, Any]:
    """Volume and latency of the window.

    Args:
        volumes: Per model version: ``rows``, ``out_of_domain_rows``, ``requests``,
            ``first_prediction_at``, ``last_prediction_at`` (the ``window_traffic`` query).
        latency: Latency quantiles, from :func:`scan_window`.
        live_error: Summary from :func:`compute_live_error` (its ``feedback_rows``).
        window_bounds: ``since`` and ``until`` of the query, as configured.

    Returns:
        Row, request and feedback counts, first and last timestamps, rows per model
        version, out-of-domain rows and rate, and latency quantiles in ms.
    """
    rows = int(volumes["rows"].sum()) if len(volumes) else 0
    ood = int(volumes["out_of_domain_rows"].sum()) if rows else 0
    first = pd.to_datetime(volumes["first_prediction_at"], utc=True).min() if rows else None
    last = pd.to_datetime(volumes["last_prediction_at"], utc=True).max() if rows else None
    return {
        "since": str(window_bounds.get("since")),
        "until": str(window_bounds.get("until")),
        "rows": rows,
        "requests": int(volumes["requests"].sum()) if rows else 0,
        "feedback_rows": int(live_error["feedback_rows"]),
        "first_prediction_at": first.isoformat() if first is not None else None,
        "last_prediction_at": last.isoformat() if last is not None else None,
        "rows_by_model_version": {
            str(int(v)): int(n)
            for v, n in volumes.sort_values("model_version")[["model_version", "rows"]].to_numpy()
        },
        "out_of_domain_rows": ood,
        "ood_rate": round(ood / rows, 6) if rows else None,
        "latency_ms": dict(latency),
    }


def compute_live_error(
    labelled: pd.DataFrame,
    champion: Mapping[str, Any],
    live_error: Mapping[str, Any],
    population_test: pd.DataFrame,
    place_resolution: float,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Error of the current champion on the feedback at places no model trained on.

    Only feedback at the places of the served population's test rows is scored: at a
    training row's place a model partly recalls what it was trained on (its neighbourhood
    features hold that place's value), which would flatter it. The score it is compared
    with is the champion's RMSE on those same test rows, recorded at its promotion (the
    common-holdout RMSE for a champion promoted before the population was configured).

    Args:
        labelled: The window's predictions that got feedback (``window_labelled``), with
            ``created_at``, ``model_version``, the coordinates, the prediction and the
            observed ``MedHouseVal``.
        champion: The registry's champion, with the scores recorded at promotion.
        live_error: ``monitoring.live_error``: ``min_rows`` (below it nothing is
            claimed) and ``bucket_rows`` (rows per point of the error-over-time series).
        population_test: The served population's test rows (their places count).
        place_resolution: ``split.place_resolution`` (see ``california_housing.places``).

    Returns:
        A summary (``rows`` scored, ``rows_at_other_places`` not scored, ``feedback_rows``
        in all, ``rmse``, ``mae``, ``bias``, ``reference_rmse`` and which score it is,
        ``rmse_change`` = rmse / reference_rmse - 1, ``assessed``, ``model_version``,
        ``feedback_rows_other_versions``) and the error over time (one row per bucket of
        consecutive scored feedback rows: ``until``, ``rows``, ``rmse``, ``mae``).
    """
    labelled = labelled.assign(created_at=pd.to_datetime(labelled["created_at"], utc=True))
    labelled = labelled.sort_values(["created_at", "prediction_id"], kind="stable")
    version = int(champion["version"])
    answered = labelled[labelled["model_version"] == version]
    mine = answered[at_places(answered, population_test, place_resolution)]
    reference = "population_rmse" if champion.get("population_rmse") else "holdout_rmse"
    summary: dict[str, Any] = {
        "model_version": version,
        "rows": len(mine),
        "rows_at_other_places": len(answered) - len(mine),
        "min_rows": int(live_error["min_rows"]),
        "feedback_rows": len(labelled),
        "feedback_rows_other_versions": len(labelled) - len(answered),
        "reference": reference,
        "reference_rmse": champion.get(reference),
        "assessed": len(mine) >= live_error["min_rows"] and len(mine) > 0,
    }
    if summary["assessed"]:
        summary |= stats.error_summary(mine[TARGET].to_numpy(), mine[PREDICTION].to_numpy())
        expected = summary["reference_rmse"]
        summary["rmse_change"] = summary["rmse"] / expected - 1 if expected else None
    size = max(int(live_error["bucket_rows"]), 1)
    buckets = [
        {"until": part["created_at"].max(), "rows": len(part)}
        | stats.error_summary(part[TARGET].to_numpy(), part[PREDICTION].to_numpy())
        for part in (mine.iloc[i : i + size] for i in range(0, len(mine), size))
    ]
    over_time = pd.DataFrame(buckets, columns=["until", "rows", "rmse", "mae", "bias"])
    return summary, over_time.drop(columns="bias")


def decide_retraining(
    drift: pd.DataFrame,
    live_error: Mapping[str, Any],
    traffic: Mapping[str, Any],
    champion: Mapping[str, Any],
    monitoring: Mapping[str, Any],
) -> dict[str, Any]:
    """Decide whether to retrain, and say why.

    Retraining is advised when at least ``min_drifted_features`` features drifted, when
    the predictions drifted, when the live RMSE exceeds the RMSE at promotion by more than
    ``live_error.max_rmse_increase`` (relative), or when the out-of-domain rate exceeds
    ``max_ood_rate``. An empty window advises nothing ("nothing to monitor").

    Args:
        drift: The drift table, from :func:`scan_window`.
        live_error: Summary from :func:`compute_live_error`.
        traffic: Output of :func:`summarise_traffic`.
        champion: The registry's champion.
        monitoring: The ``monitoring`` parameters.

    Returns:
        The decision (written to ``decision.json``): ``retrain``, ``status``, ``reasons``,
        ``thresholds``, ``drift`` per variable, ``live_error``, ``ood_rate``, ``traffic``,
        ``window``, ``champion`` and ``created_at``.
    """
    thresholds = {
        "drift": dict(monitoring["drift"]),
        "min_drifted_features": monitoring["min_drifted_features"],
        "max_ood_rate": monitoring["max_ood_rate"],
        "live_error": dict(monitoring["live_error"]),
    }
    reasons: list[str] = []
    features = drift.drop(index=PREDICTION, errors="ignore")
    drifted = features[features["drifted"]]
    if len(drifted) >= monitoring["min_drifted_features"] and len(drifted):
        described = ", ".join(
            f"{name} (PSI {row.psi:.3f}, KS {row.ks_statistic:.3f})"
            for name, row in drifted.iterrows()
        )
        reasons.append(f"{len(drifted)} feature(s) drifted: {described}")
    if PREDICTION in drift.index and bool(drift.loc[PREDICTION, "drifted"]):
        row = drift.loc[PREDICTION]
        reasons.append(f"predictions drifted (PSI {row.psi:.3f}, KS {row.ks_statistic:.3f})")
    change = live_error.get("rmse_change")
    limit = monitoring["live_error"]["max_rmse_increase"]
    if live_error.get("assessed") and change is not None and change > limit:
        reasons.append(
            f"live RMSE {live_error['rmse']:.4f} on {live_error['rows']} rows is "
            f"{change:+.1%} against the champion's {_REFERENCE[live_error['reference']]} "
            f"{live_error['reference_rmse']:.4f} (limit {limit:+.0%})"
        )
    ood = traffic.get("ood_rate")
    if ood is not None and ood > monitoring["max_ood_rate"]:
        reasons.append(f"out-of-domain rate {ood:.1%} exceeds {monitoring['max_ood_rate']:.0%}")
    if traffic["rows"] == 0:
        status = "nothing_to_monitor"
        reasons = [
            f"No predictions between {traffic['since']} and {traffic['until']}: nothing to monitor."
        ]
    elif reasons:
        status = "retrain"
    elif not drift["assessed"].any() and not live_error.get("assessed"):
        status = "too_few_rows"
    else:
        status = "ok"
    return {
        "retrain": status == "retrain",
        "status": status,
        "reasons": reasons,
        "thresholds": thresholds,
        "drift": _drift_records(drift),
        "live_error": dict(live_error),
        "ood_rate": ood,
        "traffic": dict(traffic),
        "window": {"since": traffic["since"], "until": traffic["until"], "rows": traffic["rows"]},
        "champion": {
            k: champion.get(k)
            for k in (
                "name",
                "version",
                "candidate",
                "data_version",
                "population_rmse",
                "holdout_rmse",
                "run_id",
                "split_version",
            )
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _drift_records(drift: pd.DataFrame) -> dict[str, dict[str, Any]]:
    records = drift.astype(object).where(drift.notna(), None).to_dict(orient="index")
    return {str(k): {c: _plain(v) for c, v in row.items()} for k, row in records.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
