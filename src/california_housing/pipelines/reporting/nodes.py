"""Nodes of the reporting pipeline: leaderboard, promotion gate, figures, report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from california_housing.modelling import regression_metrics
from california_housing.schema import RAW_FEATURES, TARGET

#: The metric that ranks candidates: RMSE on the rows every data version contains.
RANKING_METRIC = "holdout_rmse"
#: Unit of the target (MedHouseVal, median house value of a block group) and so of RMSE/MAE.
TARGET_UNIT = "$100,000"
#: How filter operators (``versions.<v>.filters``) read in the report.
FILTER_WORDS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "=", "ne": "!="}
METRICS = ("rmse", "mae", "r2", "mape")
LEADERBOARD_COLUMNS = [
    "rank",
    "candidate",
    "data_version",
    "model_type",
    *(f"holdout_{m}" for m in METRICS),
    *METRICS,
    "train_seconds",
    "n_holdout",
    "n_test",
    "run_id",
    "parent_run_id",
    "start_time",
]


def build_leaderboard(
    candidate_runs: pd.DataFrame, **configured: Mapping[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank the latest run of each candidate by its common-holdout RMSE.

    Filtered versions have easier test sets, so RMSEs on each version's own test split
    are not comparable across versions; only the common holdout (test rows that every
    version contains) is. Own-split metrics are kept, labelled, for reference. Runs
    without holdout metrics cannot be ranked and are left out.

    Args:
        candidate_runs: One row per finished candidate run (any number of runs per
            candidate), with ``candidate``, ``start_time`` and metric columns.
        **configured: The candidates of the current configuration, name -> its latest
            metrics file. When given, only these candidates are ranked (a model removed
            from the zoo leaves the leaderboard); in a full ``kedro run`` they also make
            this node wait for every candidate.

    Returns:
        The leaderboard (best first, ``rank`` from 1) and the history (every run of
        those candidates, newest first).

    Raises:
        ValueError: When no candidate run has holdout metrics.
    """
    history = candidate_runs.sort_values("start_time", ascending=False, kind="stable")
    if configured:
        history = history[history["candidate"].isin(list(configured))]
    ranked = (
        history.dropna(subset=[RANKING_METRIC]) if RANKING_METRIC in history else history.iloc[0:0]
    )
    if ranked.empty:
        raise ValueError(
            "No finished candidate run with common-holdout metrics was found in MLflow; "
            "run `kedro run --pipelines data_science` (or the default pipeline) first."
        )
    latest = ranked.drop_duplicates("candidate", keep="first")
    board = latest.sort_values([RANKING_METRIC, "candidate"], kind="stable").reset_index(drop=True)
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    return board.reindex(columns=LEADERBOARD_COLUMNS), history.reset_index(drop=True)


def rescore_champion(
    champion: Mapping[str, Any], validated_raw: pd.DataFrame, holdout_ids: pd.DataFrame
) -> dict[str, Any]:
    """Score the registry's champion on today's common holdout.

    The RMSE recorded when the champion was promoted was measured on the holdout of that
    day; a new or changed data version changes the holdout. Re-scoring the champion on
    the same rows as the candidates keeps the promotion gate fair.

    Args:
        champion: The registry's champion with its ``model`` (empty when none).
        validated_raw: The validated raw rows (index ``row_id``).
        holdout_ids: The common holdout's ``row_id`` column.

    Returns:
        The champion's description (without the model), ``holdout_rmse`` re-measured and
        the recorded value kept as ``recorded_holdout_rmse``; ``{}`` when there is none.
    """
    if not champion:
        return {}
    rows = validated_raw.loc[holdout_ids["row_id"]]
    predicted = champion["model"].predict(rows[RAW_FEATURES])
    description = {k: v for k, v in champion.items() if k != "model"}
    return description | {
        "holdout_rmse": regression_metrics(rows[TARGET], predicted)["rmse"],
        "recorded_holdout_rmse": champion.get("holdout_rmse"),
    }


def decide_promotion(leaderboard: pd.DataFrame, current: Mapping[str, Any]) -> dict[str, Any]:
    """The promotion gate: the best candidate replaces the champion only if it is better.

    Args:
        leaderboard: Output of :func:`build_leaderboard` (best first).
        current: The registry's current champion, scored on the same common holdout
            (:func:`rescore_champion`); empty when there is none.

    Returns:
        The decision: ``promote``, the best candidate's ``candidate``, ``run_id``,
        ``data_version``, ``holdout_rmse``, the current champion's figures and a
        ``reason`` in words.
    """
    best = leaderboard.iloc[0]
    decision = {
        "candidate": str(best["candidate"]),
        "run_id": str(best["run_id"]),
        "data_version": str(best["data_version"]),
        "holdout_rmse": float(best[RANKING_METRIC]),
        "current_version": current.get("version"),
        "current_candidate": current.get("candidate"),
        "current_holdout_rmse": current.get("holdout_rmse"),
        "current_recorded_holdout_rmse": current.get("recorded_holdout_rmse"),
    }
    current_rmse = current.get("holdout_rmse")
    if not current:
        promote, reason = True, "there is no champion yet"
    elif current.get("run_id") == decision["run_id"]:
        promote, reason = False, "the best candidate already is the champion"
    elif current_rmse is None:
        promote, reason = True, "the current champion has no recorded holdout RMSE"
    elif decision["holdout_rmse"] < current_rmse:
        promote, reason = (
            True,
            f"holdout RMSE {decision['holdout_rmse']:.4f} beats the champion's {current_rmse:.4f}",
        )
    else:
        promote, reason = (
            False,
            f"holdout RMSE {decision['holdout_rmse']:.4f} does not beat the champion's "
            f"{current_rmse:.4f} (a tie keeps the champion)",
        )
    return decision | {"promote": promote, "reason": reason}


def leaderboard_markdown(leaderboard: pd.DataFrame) -> str:
    """Render the leaderboard as a Markdown table.

    Args:
        leaderboard: Output of :func:`build_leaderboard`.

    Returns:
        A Markdown table, one row per candidate, each linked to its MLflow run id.
    """
    header = (
        "| rank | candidate | holdout RMSE | holdout MAE | holdout R2 | holdout MAPE % "
        "| own-test RMSE | train s | MLflow run |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = "".join(
        f"| {r['rank']} | {r['candidate']} | {r['holdout_rmse']:.4f} | {r['holdout_mae']:.4f} "
        f"| {r['holdout_r2']:.4f} | {r['holdout_mape']:.2f} | {r['rmse']:.4f} "
        f"| {r['train_seconds']:.2f} | `{r['run_id']}` |\n"
        for r in leaderboard.to_dict(orient="records")
    )
    return header + rows


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
    ax.set(
        title=title,
        xlabel=group.replace("_", " "),
        ylabel=f"{metric.replace('_', ' ').replace('rmse', 'RMSE')} ({TARGET_UNIT})",
    )
    ax.margins(y=0.35)
    ax.legend(title=hue.replace("_", " "), fontsize=8)


def plot_comparisons(leaderboard: pd.DataFrame) -> tuple[Figure, Figure, Figure]:
    """Comparison figures: overall, by data version, by model type.

    Args:
        leaderboard: Output of :func:`build_leaderboard`.

    Returns:
        Overall ranking (common-holdout RMSE, champion-elect highlighted); RMSE per model
        grouped by data version (holdout and own test split); RMSE per version grouped by
        model type.
    """
    board = leaderboard.sort_values("rank")
    best = board.iloc[0]
    best_words = f"best: {best['candidate']} ({best['holdout_rmse']:.4f})"
    overall = Figure(figsize=(9, 0.45 * len(board) + 1.8), layout="constrained")
    ax = overall.subplots()
    colors = ["tab:green" if r == 1 else "tab:blue" for r in board["rank"]]
    bars = ax.barh(board["candidate"], board["holdout_rmse"], color=colors)
    ax.bar_label(bars, fmt="%.4f", padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.set(
        title=f"All candidates on the common holdout, lower is better ({best_words}, in green)",
        xlabel=f"RMSE on the common holdout ({TARGET_UNIT})",
    )

    by_version = Figure(figsize=(12, 5), layout="constrained")
    left, right = by_version.subplots(1, 2, sharey=True)
    by_version_axes = {"group": "data_version", "hue": "model_type"}
    _bar_panel(
        left, board, **by_version_axes, metric="holdout_rmse", title="Common holdout (comparable)"
    )
    _bar_panel(
        right,
        board,
        **by_version_axes,
        metric="rmse",
        title="Own test split (not comparable across versions)",
    )
    by_version.suptitle(f"RMSE by data version ({best_words})")

    by_model = Figure(figsize=(10, 5), layout="constrained")
    _bar_panel(
        by_model.subplots(),
        board,
        group="model_type",
        hue="data_version",
        metric="holdout_rmse",
        title=f"Common-holdout RMSE by model type ({best_words})",
    )
    return overall, by_version, by_model


def _rows_kept(filters: Mapping[str, Mapping[str, Any]]) -> str:
    """``{"Longitude": {"lt": -119.0}}`` -> ``Longitude < -119.0``; no filter: all rows."""
    rules = [
        f"{column} {FILTER_WORDS.get(op, op)} {value}"
        for column, ops in filters.items()
        for op, value in ops.items()
    ]
    return " and ".join(f"`{rule}`" for rule in rules) or "all rows"


def _versions_section(versions: Mapping[str, Any], leaderboard: pd.DataFrame) -> str:
    """The data versions as configured: rows kept, features added, own test rows."""
    own_test = leaderboard.dropna(subset=["n_test"]).groupby("data_version")["n_test"].first()
    rows = "".join(
        f"| `{name}` | {_rows_kept(spec.get('filters') or {})} "
        f"| {', '.join(f'`{f}`' for f in spec.get('features') or []) or 'none'} "
        f"| {f'{int(own_test[name]):,}' if name in own_test else '-'} |\n"
        for name, spec in versions.items()
    )
    return "| version | rows kept | features added | own test rows |\n|---|---|---|---:|\n" + rows


def _comparison_section(
    versions: Mapping[str, Any], split: Mapping[str, Any], holdout_rows: int
) -> str:
    """Why candidates are ranked on the common holdout, in terms of the configured versions."""
    filtered = [name for name, spec in versions.items() if spec.get("filters")]
    unfiltered = [name for name in versions if name not in filtered]
    text = (
        f"The train/test assignment is made once, on raw row ids, before any version is built "
        f"({float(split['test_size']):.0%} of the rows held out, seed {split['seed']}): a "
        f"version's test rows are the assigned test rows that it keeps, so no row is in one "
        f"version's train split and another's test split."
    )
    if filtered:
        listed = ", ".join(f"`{name}`" for name in filtered)
        others = ", ".join(f"`{name}`" for name in unfiltered) or "one another"
        text += (
            f" {listed} keep only the rows their filters allow, so their own test splits hold "
            f"other (often easier) rows than {others}: RMSEs on each version's own test split "
            "are not comparable across versions."
        )
    return (
        text + f" The **common holdout** is the {holdout_rows:,} test rows that every version "
        "contains. Every candidate is scored on those same rows (each model computes its own "
        "version's features), and only that RMSE ranks them; own-split metrics are listed for "
        "reference."
    )


def write_report(
    leaderboard: pd.DataFrame,
    history: pd.DataFrame,
    decision: Mapping[str, Any],
    champion: Mapping[str, Any],
    *,
    versions: Mapping[str, Any],
    split: Mapping[str, Any],
) -> str:
    """Write the Markdown report: the winner, why, the promotion, versions, the leaderboard.

    What it says about data versions and the common holdout is generated from their
    configuration, so it stays true when a version changes.

    Args:
        leaderboard: Output of :func:`build_leaderboard`.
        history: Every candidate run found in MLflow.
        decision: Output of :func:`decide_promotion`.
        champion: The registry's champion after the decision was applied.
        versions: The data versions (``params:versions``: filters and features).
        split: The shared train/test assignment (``params:split``: test_size, seed).

    Returns:
        The report.
    """
    best = leaderboard.iloc[0]
    holdout_rows = int(best["n_holdout"]) if pd.notna(best["n_holdout"]) else 0
    if decision["promote"]:
        promotion = (
            f"**Promoted**: `{decision['candidate']}` (run `{decision['run_id']}`) is now "
            f"version {champion.get('version')} of registered model `{champion.get('name')}` "
            f"with alias `champion`, because {decision['reason']}."
        )
    else:
        promotion = (
            f"**Not promoted**: {decision['reason']}. The alias `champion` stays on version "
            f"{champion.get('version')} (`{champion.get('candidate')}`, "
            f"run `{champion.get('run_id')}`)."
        )
    if (
        decision.get("current_version") is not None
        and decision.get("current_holdout_rmse") is not None
    ):
        recorded = decision.get("current_recorded_holdout_rmse")
        promotion += (
            f" The previous champion (version {decision['current_version']}) was re-scored on "
            f"today's common holdout: RMSE {decision['current_holdout_rmse']:.4f}"
            + (f" (recorded at its promotion: {recorded:.4f})." if recorded is not None else ".")
        )
    rmse = float(best["holdout_rmse"])
    return f"""# California Housing: model report

The target, `{TARGET}`, is the median house value of a census block group in units of
{TARGET_UNIT}; RMSE and MAE are in the same unit (an RMSE of {rmse:.2f} is about
${round(rmse * 100_000, -3):,.0f}), MAPE is in percent.

## Winner

**{best["candidate"]}** (data version `{best["data_version"]}`, model `{best["model_type"]}`)
has the lowest RMSE on the common holdout: **{rmse:.4f}** (MAE
{best["holdout_mae"]:.4f}, R2 {best["holdout_r2"]:.4f}, MAPE {best["holdout_mape"]:.2f} %),
MLflow run `{best["run_id"]}`.

{promotion}

## Data versions

As configured in `versions` (`conf/*/parameters_data_processing.yml`):

{_versions_section(versions, leaderboard)}
## How candidates are compared

{_comparison_section(versions, split, holdout_rows)}

## Leaderboard (latest run of each candidate; RMSE and MAE in {TARGET_UNIT})

{leaderboard_markdown(leaderboard)}
Each MLflow run id holds that candidate's parameters, metrics, figure, logged model and
input datasets. History: {len(history)} candidate run(s) found in MLflow; see
`leaderboard_history.csv`.
"""
