"""Figures and the Markdown / HTML report of a monitoring run (pure functions).

Both reports are Jinja2 templates (``california_housing/templates/monitoring_report.*.j2``)
rendered from the same values, :func:`report_context`.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from california_housing.pipelines.monitoring.stats import Histogram
from california_housing.reports import render
from california_housing.schema import PREDICTION, RAW_FEATURES, TARGET_UNIT

_REF, _CUR, _BAD = "#4c72b0", "#dd8452", "#c44e52"


def plot_monitoring(  # inputs by name (a dict in the pipeline)
    *,
    histograms: Mapping[str, Histogram],
    reference: pd.DataFrame,
    reference_predictions: pd.DataFrame,
    drift: pd.DataFrame,
    error_over_time: pd.DataFrame,
    live_error: Mapping[str, Any],
) -> dict[str, Figure]:
    """The report's figures.

    Args:
        histograms: The window's values per variable, counted by ``scan_window`` (the
            predictions: of the rows the current champion version answered).
        reference: The champion's training rows.
        reference_predictions: The champion's predictions on its test split.
        drift: Per-variable drift table.
        error_over_time: Live error per bucket of feedback rows.
        live_error: Live error summary (``reference_rmse``).

    Returns:
        ``distributions.png`` (reference vs current per feature and for the predictions),
        ``drift_scores.png`` (PSI and KS statistic per variable) and ``live_error.png``
        (RMSE and MAE over time against the RMSE at promotion), by file name.
    """
    return {
        "distributions.png": _distributions(histograms, reference, reference_predictions, drift),
        "drift_scores.png": _drift_scores(drift),
        "live_error.png": _live_error(error_over_time, live_error),
    }


def _distributions(
    histograms: Mapping[str, Histogram],
    reference: pd.DataFrame,
    ref_pred: pd.DataFrame,
    drift: pd.DataFrame,
) -> Figure:
    columns = [*RAW_FEATURES, PREDICTION]
    fig = Figure(figsize=(12, 9))
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.04, top=0.92, hspace=0.35, wspace=0.2)
    axes = fig.subplots(3, 3).ravel()
    for ax, column in zip(axes, columns, strict=True):
        ref = (ref_pred if column == PREDICTION else reference)[column].to_numpy(float)
        edges, counts = histograms[column].edges, histograms[column].counts
        # one filled step line per sample: cheap to draw whatever the number of rows
        widths = np.diff(edges)
        for density, color, label in (
            (np.histogram(ref, bins=edges)[0] / max(len(ref), 1) / widths, _REF, "reference"),
            (counts / max(counts.sum(), 1) / widths, _CUR, "current"),
        ):
            ax.stairs(density, edges, fill=True, alpha=0.5, color=color, label=label)
        flagged = column in drift.index and bool(drift.loc[column, "drifted"])
        psi = drift.loc[column, "psi"] if "psi" in drift and column in drift.index else np.nan
        title = f"{column}  PSI {psi:.3f}" if pd.notna(psi) else f"{column}  (not assessed)"
        ax.set_title(
            title + ("  DRIFT" if flagged else ""), color=_BAD if flagged else "black", fontsize=10
        )
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8)
    fig.suptitle("Reference (champion's training data) vs current window")
    return fig


def _drift_scores(drift: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(10, 4))
    fig.subplots_adjust(left=0.2, right=0.98, bottom=0.08, top=0.85, wspace=0.08)
    ax_psi, ax_ks = fig.subplots(1, 2, sharey=True)
    names = list(drift.index)
    colors = [_BAD if d else _REF for d in drift["drifted"]]
    for ax, column, title in ((ax_psi, "psi", "PSI"), (ax_ks, "ks_statistic", "KS statistic")):
        values = drift[column].fillna(0.0) if column in drift else pd.Series(0.0, index=names)
        ax.barh(names, values, color=colors)
        ax.set_title(title)
        ax.invert_yaxis() if ax is ax_psi else None
    fig.suptitle("Drift scores per variable (red: drifted)")
    return fig


def _live_error(over_time: pd.DataFrame, live_error: Mapping[str, Any]) -> Figure:
    fig = Figure(figsize=(10, 3.5))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.25, top=0.9)
    ax = fig.subplots()
    if over_time.empty:
        ax.text(
            0.5,
            0.5,
            "no feedback for the current champion in this window",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    else:
        x = pd.to_datetime(over_time["until"], utc=True).dt.tz_convert(None)
        ax.plot(x, over_time["rmse"], marker="o", label="live RMSE")
        ax.plot(x, over_time["mae"], marker="s", label="live MAE")
        ax.set_xlabel(
            f"time (UTC) of the last prediction of each {over_time['rows'].iloc[0]} feedback rows"
        )
        for label in ax.get_xticklabels():
            label.set_rotation(20)
    if live_error.get("reference_rmse"):
        ax.axhline(live_error["reference_rmse"], color="gray", ls="--", label="RMSE at promotion")
    ax.set_ylabel(f"error ({TARGET_UNIT})")
    ax.legend(fontsize=8)
    ax.set_title("Live error over time (current champion)")
    return fig


#: The decision's status, in words.
VERDICTS = {
    "retrain": "Retrain advised.",
    "ok": "No retraining needed.",
    "too_few_rows": "Too few rows to assess drift or live error: nothing advised.",
    "nothing_to_monitor": "Nothing to monitor.",
}


def report_context(decision: Mapping[str, Any], drift: pd.DataFrame) -> dict[str, Any]:
    """What both reports show, from the decision and the drift table.

    Args:
        decision: Output of ``decide_retraining``.
        drift: Per-variable drift table.

    Returns:
        The values the templates lay out: the decision, its verdict, the drift rows (each
        with ``name``; statistics for assessed rows), and the figures' file names.
    """
    rows = [
        {"name": str(name)} | {k: _plain(v) for k, v in row.items()}
        for name, row in drift.iterrows()
    ]
    return {
        "decision": decision,
        "verdict": VERDICTS[decision["status"]],
        "drift_rows": rows,
        "figures": {
            "distributions": "distributions.png",
            "drift scores": "drift_scores.png",
            "live error": "live_error.png",
        },
    }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def write_report(decision: Mapping[str, Any], drift: pd.DataFrame) -> str:
    """The monitoring report in Markdown (``monitoring_report.md.j2``).

    Figures are linked as ``figures/<name>.png`` (saved next to it); ``report.html``
    embeds the same images.

    Args:
        decision: Output of ``decide_retraining``.
        drift: Per-variable drift table.

    Returns:
        The report text.
    """
    return render("monitoring_report.md.j2", **report_context(decision, drift))


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def render_html(
    decision: Mapping[str, Any], drift: pd.DataFrame, figures: Mapping[str, Figure]
) -> tuple[str, dict[str, bytes]]:
    """A self-contained HTML page of the report, and the figures as PNG files.

    The page (``monitoring_report.html.j2``) shows the same data as the Markdown report,
    every value escaped. Each figure is rendered once: the PNG bytes are embedded in the
    page (base64, so it needs no network) and returned for ``figures/<name>.png``.

    Args:
        decision: Output of ``decide_retraining``.
        drift: Per-variable drift table.
        figures: Output of :func:`plot_monitoring`.

    Returns:
        The HTML page, and ``{file name: PNG bytes}``.
    """
    images = {name: _png(fig) for name, fig in figures.items()}
    embedded = {name: base64.b64encode(png).decode("ascii") for name, png in images.items()}
    page = render("monitoring_report.html.j2", **report_context(decision, drift), embedded=embedded)
    return page, images


def tracking_record(
    decision: Mapping[str, Any], report_md: str, report_html: str, images: Mapping[str, bytes]
) -> dict[str, Any]:
    """What the monitoring run records in MLflow (``monitoring_run``).

    Args:
        decision: Output of ``decide_retraining``.
        report_md: The Markdown report.
        report_html: The HTML report.
        images: The report's figures as PNG bytes, by file name.

    Returns:
        ``metrics`` (drift scores per variable, live error, OOD rate, volume, latency,
        ``retrain`` as 0/1), ``params`` (thresholds, window, champion), ``tags`` and
        ``artifacts`` (decision.json, report.md, report.html, figures/*.png).
    """
    traffic, live = decision["traffic"], decision["live_error"]
    metrics: dict[str, float | None] = {
        "retrain": float(decision["retrain"]),
        "rows": traffic["rows"],
        "requests": traffic["requests"],
        "feedback_rows": traffic["feedback_rows"],
        "ood_rate": traffic["ood_rate"],
        "drifted_features": sum(
            1 for k, v in decision["drift"].items() if k != PREDICTION and v["drifted"]
        ),
        "live_rows": live["rows"],
    }
    metrics |= {f"latency_{k}_ms": v for k, v in traffic["latency_ms"].items()}
    if live.get("assessed"):
        metrics |= {f"live_{k}": live.get(k) for k in ("rmse", "mae", "bias", "rmse_change")}
    for name, row in decision["drift"].items():
        if row.get("assessed"):
            metrics |= {f"psi.{name}": row["psi"], f"ks.{name}": row["ks_statistic"]}
    thresholds = decision["thresholds"]
    params = {f"drift.{k}": v for k, v in thresholds["drift"].items()}
    params |= {f"live_error.{k}": v for k, v in thresholds["live_error"].items()}
    params |= {
        "min_drifted_features": thresholds["min_drifted_features"],
        "max_ood_rate": thresholds["max_ood_rate"],
        "window.since": decision["window"]["since"],
        "window.until": decision["window"]["until"],
    }
    champion = decision["champion"]
    tags = {
        "mlflow.runName": f"monitoring {decision['created_at']}",
        "status": decision["status"],
        "retrain": str(decision["retrain"]).lower(),
        "champion_version": str(champion["version"]),
        "champion_candidate": str(champion["candidate"]),
        "registered_model_name": str(champion["name"]),
    }
    return {
        "metrics": metrics,
        "params": params,
        "tags": tags,
        "artifacts": {
            "decision.json": json.dumps(decision, indent=2, default=str),
            "report.md": report_md,
            "report.html": report_html,
        }
        | {f"figures/{name}": png for name, png in images.items()},
    }
