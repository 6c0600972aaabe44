"""Figures of the reporting pipeline: comparisons of the candidates, the champion's errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from california_housing.features import METRO_CENTRES
from california_housing.schema import TARGET_UNIT

#: Axis labels of the scores.
SCORES = {
    "population_rmse": "RMSE on the served population's test rows",
    "holdout_rmse": "RMSE on the common holdout",
    "rmse": "RMSE on the version's own test split",
}


def _bar_panel(
    ax: Any, table: pd.DataFrame, *, group: str, hue: str, metric: str, title: str
) -> None:
    pivot = table.pivot_table(index=group, columns=hue, values=metric, aggfunc="first")
    width = 0.8 / max(len(pivot.columns), 1)
    x = np.arange(len(pivot.index))
    for i, column in enumerate(pivot.columns):
        bars = ax.bar(x + i * width - 0.4 + width / 2, pivot[column], width, label=str(column))
        ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    ax.set_xticks(x, [str(i) for i in pivot.index])
    ax.set(title=title, xlabel=group.replace("_", " "), ylabel=f"RMSE ({TARGET_UNIT})")
    ax.margins(y=0.35)
    ax.legend(title=hue.replace("_", " "), fontsize=8)


def plot_comparisons(leaderboard: pd.DataFrame) -> tuple[Figure, Figure, Figure]:
    """Comparison figures: overall, by data version, by model type.

    Args:
        leaderboard: Output of ``build_leaderboard`` (the gate's order).

    Returns:
        Every candidate on the served population (the gate's score; the best eligible one in
        green, ineligible ones grey) next to the common holdout; RMSE per model grouped by
        data version (population, common holdout, own test split); common-holdout RMSE per
        version grouped by model type.
    """
    board = leaderboard.sort_values("rank")
    best = board.iloc[0]
    best_words = f"gate's choice: {best['candidate']} ({best['population_rmse']:.4f})"
    overall = Figure(figsize=(13, 0.45 * len(board) + 1.8), layout="constrained")
    gate_ax, holdout_ax = overall.subplots(1, 2, sharey=True)
    colors = ["tab:blue" if eligible else "tab:gray" for eligible in board["eligible"]]
    colors[0] = "tab:green" if best["eligible"] else colors[0]
    for ax, metric, title in (
        (gate_ax, "population_rmse", "The gate's score (grey: version does not cover it)"),
        (holdout_ax, "holdout_rmse", "Cross-version comparison on shared rows"),
    ):
        bars = ax.barh(board["candidate"], board[metric], color=colors)
        ax.bar_label(bars, fmt="%.4f", padding=3, fontsize=8)
        ax.margins(x=0.15)
        ax.set(title=title, xlabel=f"{SCORES[metric]} ({TARGET_UNIT})")
    gate_ax.invert_yaxis()
    overall.suptitle(f"All candidates, lower is better ({best_words}, in green)")

    by_version = Figure(figsize=(16, 5), layout="constrained")
    panels = by_version.subplots(1, 3, sharey=True)
    for ax, metric, note in zip(
        panels,
        SCORES,
        ("what the gate ranks", "comparable across versions", "not comparable across versions"),
        strict=True,
    ):
        _bar_panel(
            ax,
            board,
            group="data_version",
            hue="model_type",
            metric=metric,
            title=f"{SCORES[metric]}\n({note})",
        )
    by_version.suptitle(f"RMSE by data version ({best_words})")

    by_model = Figure(figsize=(10, 5), layout="constrained")
    _bar_panel(
        by_model.subplots(),
        board,
        group="model_type",
        hue="data_version",
        metric="holdout_rmse",
        title="Common-holdout RMSE by model type (the cross-version comparison)",
    )
    return overall, by_version, by_model


def _mark_metros(ax: Any) -> None:
    for name, (latitude, longitude) in METRO_CENTRES.items():
        ax.plot(longitude, latitude, marker="*", color="black", markersize=9)
        ax.annotate(name.replace("_", " ").title(), (longitude, latitude), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")  # fmt: skip


def _rmse(residuals: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(residuals))))


def plot_error_map(rows: pd.DataFrame, champion: Mapping[str, Any]) -> Figure:
    """The champion's errors by location on the served population's test rows.

    Args:
        rows: The rows with ``Latitude``, ``Longitude`` and ``residual`` (actual minus
            predicted), from ``describe_champion``.
        champion: The champion's description (names the figure).

    Returns:
        Two hexbin maps with the metro centres marked: the mean residual (red: the
        champion answers too low there) and the RMSE per cell.
    """
    fig = Figure(figsize=(13, 6.2), layout="constrained")
    bias_ax, rmse_ax = fig.subplots(1, 2, sharey=True)
    where = {"x": rows["Longitude"], "y": rows["Latitude"], "gridsize": 40, "mincnt": 1}
    bias = bias_ax.hexbin(
        **where, C=rows["residual"], reduce_C_function=np.mean, cmap="RdBu_r", vmin=-1, vmax=1
    )
    spread = rmse_ax.hexbin(
        **where, C=rows["residual"], reduce_C_function=_rmse, cmap="viridis", vmin=0, vmax=1
    )
    fig.colorbar(bias, ax=bias_ax, label=f"mean residual, actual - predicted ({TARGET_UNIT})")
    fig.colorbar(spread, ax=rmse_ax, label=f"RMSE ({TARGET_UNIT})")
    for ax, title in ((bias_ax, "Mean residual"), (rmse_ax, "RMSE")):
        _mark_metros(ax)
        ax.set(title=title, xlabel="Longitude", aspect="equal")
    bias_ax.set_ylabel("Latitude")
    fig.suptitle(
        f"Champion {champion.get('candidate')} (version {champion.get('version')}) on "
        f"{len(rows):,} test rows of the served population, by location"
    )
    return fig


def plot_importances(champion: Mapping[str, Any]) -> Figure:
    """The champion's feature importances, as ``describe_champion`` read them.

    Args:
        champion: The champion's description, with ``importances`` (feature -> value, most
            important first) and ``importance_kind``.

    Returns:
        A horizontal bar chart.
    """
    names, values = zip(*champion["importances"].items(), strict=True)
    fig = Figure(figsize=(9, 0.32 * len(names) + 1.5), layout="constrained")
    ax = fig.subplots()
    ax.barh(names, values, color="tab:blue")
    ax.invert_yaxis()
    kind = champion["importance_kind"]
    ax.set(title=f"What champion {champion.get('candidate')} relies on ({kind})", xlabel=kind)
    return fig
