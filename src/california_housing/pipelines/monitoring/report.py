"""Figures and the Markdown / HTML report of a monitoring run (pure functions)."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from california_housing.pipelines.monitoring.nodes import PREDICTION
from california_housing.schema import RAW_FEATURES

_REF, _CUR, _BAD = "#4c72b0", "#dd8452", "#c44e52"


def plot_monitoring(  # inputs by name (a dict in the pipeline)
    *,
    window: pd.DataFrame,
    reference: pd.DataFrame,
    reference_predictions: pd.DataFrame,
    drift: pd.DataFrame,
    error_over_time: pd.DataFrame,
    live_error: Mapping[str, Any],
) -> dict[str, Figure]:
    """The report's figures.

    Args:
        window: The typed log window.
        reference: The champion's training rows.
        reference_predictions: The champion's predictions on its test split.
        drift: Per-variable drift table.
        error_over_time: Live error per bucket of feedback rows.
        live_error: Live error summary (``reference_rmse``, ``model_version``: the
            predictions panel shows the rows this champion version answered).

    Returns:
        ``distributions.png`` (reference vs current per feature and for the predictions),
        ``drift_scores.png`` (PSI and KS statistic per variable) and ``live_error.png``
        (RMSE and MAE over time against the RMSE at promotion), by file name.
    """
    return {
        "distributions.png": _distributions(
            window, reference, reference_predictions, drift, live_error["model_version"]
        ),
        "drift_scores.png": _drift_scores(drift),
        "live_error.png": _live_error(error_over_time, live_error),
    }


def _distributions(
    window: pd.DataFrame,
    reference: pd.DataFrame,
    ref_pred: pd.DataFrame,
    drift: pd.DataFrame,
    version: int,
) -> Figure:
    columns = [*RAW_FEATURES, PREDICTION]
    fig = Figure(figsize=(12, 9))
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.04, top=0.92, hspace=0.35, wspace=0.2)
    axes = fig.subplots(3, 3).ravel()
    for ax, column in zip(axes, columns, strict=True):
        ref = (ref_pred if column == PREDICTION else reference)[column].to_numpy(float)
        rows = window[window["model_version"] == version] if column == PREDICTION else window
        cur = rows[column].to_numpy(float)
        low, high = np.quantile(np.concatenate([ref, cur]) if len(cur) else ref, [0.005, 0.995])
        edges = np.linspace(low, high if high > low else low + 1.0, 41)
        # one filled step line per sample: cheap to draw whatever the number of rows
        for values, color, label in ((ref, _REF, "reference"), (cur, _CUR, "current")):
            if len(values):
                density, _ = np.histogram(values, bins=edges, density=True)
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
    ax.set_ylabel("100k USD")
    ax.legend(fontsize=8)
    ax.set_title("Live error over time (current champion)")
    return fig


def _drift_markdown(drift: pd.DataFrame) -> str:
    lines = [
        "| variable | PSI | KS statistic | KS p-value | reference mean | current mean | drifted |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in drift.iterrows():
        if not row.get("assessed", True):
            lines.append(
                f"| {name} | - | - | - | - | - | not assessed ({row['current_rows']} rows) |"
            )
            continue
        lines.append(
            f"| {name} | {row['psi']:.4f} | {row['ks_statistic']:.4f} | {row['ks_pvalue']:.2e} "
            f"| {row['reference_mean']:.4g} | {row['current_mean']:.4g} "
            f"| {'**yes**' if row['drifted'] else 'no'} |"
        )
    return "\n".join(lines)


def write_report(decision: Mapping[str, Any], drift: pd.DataFrame) -> str:
    """The monitoring report in Markdown.

    Figures are linked as ``figures/<name>.png`` (saved next to it); ``report.html``
    embeds the same images.

    Args:
        decision: Output of ``decide_retraining``.
        drift: Per-variable drift table.

    Returns:
        The report text.
    """
    t, live, champ = decision["traffic"], decision["live_error"], decision["champion"]
    th = decision["thresholds"]
    verdict = {
        "retrain": "**Retrain advised.**",
        "ok": "No retraining needed.",
        "too_few_rows": "Too few rows to assess drift or live error: nothing advised.",
        "nothing_to_monitor": "Nothing to monitor.",
    }[decision["status"]]
    if live.get("assessed"):
        change = live.get("rmse_change")
        live_text = (
            f"RMSE {live['rmse']:.4f}, MAE {live['mae']:.4f}, bias {live['bias']:+.4f} on "
            f"{live['rows']} rows with feedback at test places; the champion's "
            f"`{live['reference']}` at promotion {live['reference_rmse']:.4f}; change "
            f"{change:+.1%}."
            if change is not None
            else "no RMSE recorded for the champion at its promotion."
        )
    else:
        live_text = (
            f"not claimed: {live['rows']} rows with feedback for version "
            f"{live['model_version']} (minimum {live['min_rows']})."
        )
    reasons = "\n".join(f"- {r}" for r in decision["reasons"]) or "- none"
    lat = t["latency_ms"]
    return f"""# Monitoring report

Created {decision["created_at"]}. Window: {decision["window"]["since"]} to \
{decision["window"]["until"]} ({t["rows"]} predictions).

## Decision

{verdict} `retrain: {str(decision["retrain"]).lower()}`

{reasons}

## Champion and reference

Model `{champ["name"]}` version {champ["version"]} (`{champ["candidate"]}`, data version \
`{champ["data_version"]}`, run `{champ["run_id"]}`). Reference: the raw features of \
`{champ["data_version"]}.train` as saved at `{champ.get("split_version")}` (its training data); \
reference predictions: the champion's predictions on `{champ["data_version"]}.test`.

## Drift

Drift when PSI >= {th["drift"]["psi"]}, or KS p-value < {th["drift"]["ks_pvalue"]} with a KS \
statistic >= {th["drift"]["ks_statistic"]} (at least {th["drift"]["min_rows"]} rows).

{_drift_markdown(drift)}

![distributions](figures/distributions.png)

![drift scores](figures/drift_scores.png)

## Live error

{live_text} Limit: {th["live_error"]["max_rmse_increase"]:+.0%} over the RMSE at promotion. \
Not scored: {live["rows_at_other_places"]} feedback rows at places the champion may have \
trained on, {live["feedback_rows_other_versions"]} for other model versions.

![live error](figures/live_error.png)

## Traffic

| rows | requests | feedback rows | out of domain | latency p50 / p95 / p99 / max (ms) \
| rows per model version |
|---|---|---|---|---|---|
| {t["rows"]} | {t["requests"]} | {t["feedback_rows"]} | {t["out_of_domain_rows"]} \
({_pct(t["ood_rate"])}; limit {th["max_ood_rate"]:.0%}) | {lat["p50"]} / {lat["p95"]} / \
{lat["p99"]} / {lat["max"]} | {json.dumps(t["rows_by_model_version"])} |

First prediction {t["first_prediction_at"]}, last {t["last_prediction_at"]}.
"""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def _html_table(block: str) -> str:
    lines = [line.strip().strip("|").split("|") for line in block.splitlines()]
    head, body = lines[0], lines[2:]
    cells = "".join(f"<th>{html.escape(c.strip())}</th>" for c in head)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c.strip().strip('*'))}</td>" for c in row) + "</tr>"
        for row in body
    )
    return f"<table><tr>{cells}</tr>{rows}</table>"


def render_html(markdown: str, figures: Mapping[str, Figure]) -> tuple[str, dict[str, bytes]]:
    """A self-contained HTML page of the report, and the figures as PNG files.

    Each figure is rendered once: the PNG bytes are embedded in the page (base64) and
    returned for ``figures/<name>.png``. Headings and tables become HTML, other paragraphs
    preformatted text, so the page needs no Markdown renderer and no network.

    Args:
        markdown: Output of :func:`write_report`.
        figures: Output of :func:`plot_monitoring`.

    Returns:
        The HTML page, and ``{file name: PNG bytes}``.
    """
    images = {name: _png(fig) for name, fig in figures.items()}
    parts = []
    for block in markdown.split("\n\n"):
        text = block.strip()
        if text.startswith("![") and text.endswith(".png)"):
            name = text.rsplit("/", 1)[1].removesuffix(")")
            encoded = base64.b64encode(images[name]).decode("ascii")
            parts.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{encoded}">')
        elif text.startswith("|"):
            parts.append(_html_table(text))
        elif text.startswith("#"):
            level = len(text) - len(text.lstrip("#"))
            parts.append(f"<h{level}>{html.escape(text.lstrip('# '))}</h{level}>")
        elif text:
            parts.append(f"<pre>{html.escape(text)}</pre>")
    body = "\n".join(parts)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Monitoring report</title><style>body{font-family:sans-serif;max-width:"
        "1100px;margin:auto}pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}"
        "img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}</style></head><body>\n" + body + "\n</body></html>\n"
    )
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
