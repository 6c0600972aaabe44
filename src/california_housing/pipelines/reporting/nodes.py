"""Nodes of the reporting pipeline: leaderboard, promotion gate, report.

The project answers two questions, each on its own ground:

- **which model should answer the traffic the service gets?** Only candidates whose data
  version covers the served population (``population`` in configuration, default the whole
  state) may be promoted, ranked by RMSE on that population's test rows: the gate's score,
  ``population_rmse``;
- **which data version is best on shared ground?** Every candidate is also scored on the
  common holdout (the test rows every version contains), ``holdout_rmse``: the
  cross-version comparison, reported next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from california_housing.filters import row_mask
from california_housing.modelling import regression_metrics
from california_housing.reports import LEADERBOARD_COLUMNS, render
from california_housing.schema import RAW_FEATURES, TARGET

#: The gate's score: RMSE on the served population's test rows.
GATE_METRIC = "population_rmse"
#: The cross-version comparison: RMSE on the rows every data version contains.
HOLDOUT_METRIC = "holdout_rmse"


def build_leaderboard(
    candidate_runs: pd.DataFrame, coverage: Mapping[str, Any], **configured: Mapping[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank the latest run of each candidate as the promotion gate does.

    Candidates whose data version covers the served population (``eligible``) come first,
    by RMSE on the population's test rows; the others follow, by the same score. Each row
    also has its rank on the common holdout (``holdout_rank``), the cross-version
    comparison. Own-split metrics are kept, labelled, for reference. Runs without both
    scores cannot be ranked and are left out.

    Args:
        candidate_runs: One row per finished candidate run (any number of runs per
            candidate), with ``candidate``, ``start_time`` and metric columns.
        coverage: Output of ``population_coverage`` (which versions cover the population).
        **configured: The candidates of the current configuration, name -> its latest
            metrics file. When given, only these candidates are ranked (a model removed
            from the zoo leaves the leaderboard); in a full ``kedro run`` they also make
            this node wait for every candidate.

    Returns:
        The leaderboard (``rank`` from 1) and the history (every run of those candidates,
        newest first).

    Raises:
        ValueError: When no candidate run has both scores.
    """
    history = candidate_runs.sort_values("start_time", ascending=False, kind="stable")
    if configured:
        history = history[history["candidate"].isin(list(configured))]
    scores = [GATE_METRIC, HOLDOUT_METRIC]
    ranked = history.dropna(subset=scores) if set(scores) <= set(history) else history.iloc[0:0]
    if ranked.empty:
        raise ValueError(
            "No finished candidate run with population and common-holdout metrics was found "
            "in MLflow; run `kedro run --pipelines data_science` (or the default pipeline) first."
        )
    covers = {name: spec["covers"] for name, spec in coverage["versions"].items()}
    latest = ranked.drop_duplicates("candidate", keep="first")
    latest = latest.assign(eligible=latest["data_version"].map(covers).fillna(False).astype(bool))
    board = latest.sort_values(
        ["eligible", GATE_METRIC, "candidate"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    board["holdout_rank"] = board[HOLDOUT_METRIC].rank(method="min").astype(int)
    return board.reindex(columns=LEADERBOARD_COLUMNS), history.reset_index(drop=True)


def rescore_champion(
    champion: Mapping[str, Any],
    population_test: pd.DataFrame,
    validated_raw: pd.DataFrame,
    holdout_ids: pd.DataFrame,
) -> dict[str, Any]:
    """Score the registry's champion on the rows the candidates are scored on today.

    The scores recorded when the champion was promoted were measured on that day's rows (or,
    for a champion promoted before the gate ranked on the served population, on the common
    holdout only); a new version, a changed population or retraining changes them. Scoring
    the champion on the same rows as the candidates keeps the gate fair.

    Args:
        champion: The registry's champion with its ``model`` (empty when none).
        population_test: The served population's test rows.
        validated_raw: The validated raw rows (index ``row_id``).
        holdout_ids: The common holdout's ``row_id`` column.

    Returns:
        The champion's description (without the model) with ``population_rmse`` and
        ``holdout_rmse`` re-measured and the recorded values as ``recorded_*``; ``{}`` when
        there is none.
    """
    if not champion:
        return {}
    rows = {
        GATE_METRIC: population_test,
        HOLDOUT_METRIC: validated_raw.loc[holdout_ids["row_id"]],
    }
    scores = {
        metric: regression_metrics(part[TARGET], champion["model"].predict(part[RAW_FEATURES]))[
            "rmse"
        ]
        for metric, part in rows.items()
    }
    description = {k: v for k, v in champion.items() if k != "model"}
    recorded = {f"recorded_{metric}": champion.get(metric) for metric in rows}
    return description | scores | recorded


def decide_promotion(
    leaderboard: pd.DataFrame, current: Mapping[str, Any], coverage: Mapping[str, Any]
) -> dict[str, Any]:
    """The promotion gate: the best eligible candidate replaces the champion if it is better.

    A candidate is eligible when its data version covers the served population; candidates
    and champion are compared on the population's test rows. A champion whose version does
    not cover the population (one promoted before the population was configured, or
    before it changed) is replaced by the best eligible candidate.

    Args:
        leaderboard: Output of :func:`build_leaderboard` (eligible candidates first).
        current: The registry's current champion, scored on the same rows
            (:func:`rescore_champion`); empty when there is none.
        coverage: Output of ``population_coverage``.

    Returns:
        The decision: ``promote``, the best eligible candidate's ``candidate``, ``run_id``,
        ``data_version``, ``population_rmse`` and ``holdout_rmse``, the population it was
        ranked on, the current champion's figures and a ``reason`` in words.

    Raises:
        ValueError: When no candidate on the leaderboard is eligible.
    """
    eligible = leaderboard[leaderboard["eligible"]]
    if eligible.empty:
        raise ValueError(
            f"No candidate on the leaderboard covers the served population "
            f"({coverage['description']}): run the data_science pipeline for a version that "
            f"does ({[v for v, s in coverage['versions'].items() if s['covers']]})."
        )
    best = eligible.iloc[0]
    decision = {
        "candidate": str(best["candidate"]),
        "run_id": str(best["run_id"]),
        "data_version": str(best["data_version"]),
        GATE_METRIC: float(best[GATE_METRIC]),
        HOLDOUT_METRIC: float(best[HOLDOUT_METRIC]),
        "ranked_on": GATE_METRIC,
        "population": coverage["description"],
        "population_rows": int(best["n_population"]),
        "current_version": current.get("version"),
        "current_candidate": current.get("candidate"),
        "current_data_version": current.get("data_version"),
        "current_population_rmse": current.get(GATE_METRIC),
        "current_recorded_population_rmse": current.get(f"recorded_{GATE_METRIC}"),
        "current_holdout_rmse": current.get(HOLDOUT_METRIC),
    }
    ours, theirs = decision[GATE_METRIC], current.get(GATE_METRIC)
    covered = coverage["versions"].get(current.get("data_version"), {}).get("covers", False)
    if not current:
        promote, reason = True, "there is no champion yet"
    elif current.get("run_id") == decision["run_id"]:
        promote, reason = False, "the best candidate already is the champion"
    elif not covered:
        promote, reason = (
            True,
            f"the champion's data version ({current.get('data_version')}) does not cover the "
            f"served population ({coverage['description']})",
        )
    elif ours < theirs:
        promote, reason = True, f"population RMSE {ours:.4f} beats the champion's {theirs:.4f}"
    else:
        promote, reason = (
            False,
            f"population RMSE {ours:.4f} does not beat the champion's {theirs:.4f} "
            "(a tie keeps the champion)",
        )
    return decision | {"promote": promote, "reason": reason}


def leaderboard_markdown(leaderboard: pd.DataFrame) -> str:
    """Render the leaderboard as a Markdown table (the report's and ``leaderboard.md``).

    Args:
        leaderboard: Output of :func:`build_leaderboard`.

    Returns:
        A Markdown table, one row per candidate, each linked to its MLflow run id.
    """
    return render("leaderboard.md.j2", rows=leaderboard.to_dict(orient="records"))


def describe_champion(
    champion: Mapping[str, Any],
    population_test: pd.DataFrame,
    versions: Mapping[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """How the champion answers the served population: errors by domain, capped values.

    Args:
        champion: The registry's champion after the decision, with its ``model``.
        population_test: The served population's test rows.
        versions: The ``versions`` parameters (their filters name the domains).

    Returns:
        The champion's description (without the model) with ``errors``: RMSE on every
        population row, on the rows inside each filtered version's domain and outside it,
        and on the capped target values; its ``importances`` (the 20 largest, over the
        features its estimator sees); and the rows with their predictions and residuals
        (for the error map).
    """
    model = champion["model"]
    predicted = np.asarray(model.predict(population_test[RAW_FEATURES]), float)
    rows = population_test.assign(predicted=predicted)
    rows = rows.assign(residual=rows[TARGET] - rows["predicted"])
    capped = rows[TARGET] > 5.0

    def rmse(mask: pd.Series) -> float | None:
        return float(np.sqrt((rows.loc[mask, "residual"] ** 2).mean())) if mask.any() else None

    domains = {}
    for name, spec in versions.items():
        if spec.get("filters"):
            inside = row_mask(rows, spec["filters"])
            domains[name] = {
                "rows": int(inside.sum()),
                "rmse": rmse(inside),
                "outside_rows": int((~inside).sum()),
                "outside_rmse": rmse(~inside),
            }
    errors = {
        "rows": len(rows),
        "rmse": rmse(pd.Series(True, index=rows.index)),
        "domains": domains,
        "capped_rows": int(capped.sum()),
        "capped_rmse": rmse(capped),
        "uncapped_rmse": rmse(~capped),
        "capped_mean_prediction": float(rows.loc[capped, "predicted"].mean())
        if capped.any()
        else None,
        "largest_prediction": float(predicted.max()),
        "predictions_over_5": int((predicted > 5.0).sum()),
    }
    description = {k: v for k, v in champion.items() if k != "model"}
    return description | {"errors": errors} | importances(model), rows


def importances(model: Any, top: int = 20) -> dict[str, Any]:
    """A fitted pipeline's feature importances, over the features its estimator sees.

    Tree ensembles give their own (XGBoost: gain); a linear model the magnitude of its
    coefficients (unscaled: features in larger units get smaller coefficients).

    Args:
        model: A fitted sklearn ``Pipeline`` (feature steps, then the estimator).
        top: How many to keep, most important first.

    Returns:
        ``importances`` (feature -> value) and ``importance_kind``.
    """
    estimator = model[-1]
    names = list(model[:-1].get_feature_names_out())
    if hasattr(estimator, "feature_importances_"):
        values, kind = np.asarray(estimator.feature_importances_, float), "importance"
    else:
        values, kind = np.abs(np.ravel(estimator.coef_)), "|coefficient|, unscaled"
    order = np.argsort(values, kind="stable")[::-1][:top]
    return {
        "importances": {str(names[i]): float(values[i]) for i in order},
        "importance_kind": kind,
    }


def write_report(
    leaderboard: pd.DataFrame,
    history: pd.DataFrame,
    decision: Mapping[str, Any],
    champion: Mapping[str, Any],
    coverage: Mapping[str, Any],
    *,
    versions: Mapping[str, Any],
    split: Mapping[str, Any],
) -> str:
    """Write the Markdown report: the decision, how it was made, the versions, the board.

    What it says about data versions, the population and the common holdout is generated
    from their configuration and the data, so it stays true when they change.

    Args:
        leaderboard: Output of :func:`build_leaderboard`.
        history: Every candidate run found in MLflow.
        decision: Output of :func:`decide_promotion`.
        champion: The champion after the decision (:func:`describe_champion`).
        coverage: Output of ``population_coverage``.
        versions: The data versions (``params:versions``: filters and features).
        split: The shared train/test assignment (``params:split``: test_size, seed).

    Returns:
        The report.
    """
    own_test = leaderboard.dropna(subset=["n_test"]).groupby("data_version")["n_test"].first()
    holdout_best = leaderboard.sort_values(["holdout_rank", "candidate"]).iloc[0]
    return render(
        "training_report.md.j2",
        decision=decision,
        champion=champion,
        coverage=coverage,
        versions=versions,
        split=split,
        own_test={k: int(v) for k, v in own_test.items()},
        n_holdout=int(holdout_best["n_holdout"]),
        holdout_best=holdout_best.to_dict(),
        leaderboard=leaderboard_markdown(leaderboard),
        history_runs=len(history),
    )
