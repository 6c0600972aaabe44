import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from california_housing.pipelines.reporting.nodes import (
    LEADERBOARD_COLUMNS,
    build_leaderboard,
    decide_promotion,
    leaderboard_markdown,
    plot_comparisons,
    write_report,
)

T0 = pd.Timestamp("2026-01-05 09:00", tz="UTC")
INLAND_CAPPED = {"MedHouseVal": {"le": 5.0}, "Longitude": {"lt": -119.0}}
VERSIONS = {
    "v1": {"filters": {}, "features": []},
    "v2": {"filters": INLAND_CAPPED, "features": []},
    "v3": {"filters": INLAND_CAPPED, "features": ["bedrooms_ratio"]},
}
SPLIT = {"test_size": 0.2, "seed": 42}


def run_row(run_id, candidate, minute, holdout_rmse, rmse):
    """One candidate run as MlflowCandidateRunsDataset returns it."""
    version, _, model_type = candidate.partition(".")
    return {
        "run_id": run_id,
        "parent_run_id": f"parent-{minute}",
        "candidate": candidate,
        "data_version": version,
        "model_type": model_type,
        "git_commit": "abc123",
        "kedro_env": "test",
        "start_time": T0 + pd.Timedelta(minutes=minute),
        "holdout_rmse": holdout_rmse,
        "holdout_mae": holdout_rmse * 0.7,
        "holdout_r2": 1 - holdout_rmse / 2,
        "holdout_mape": holdout_rmse * 30,
        "rmse": rmse,
        "mae": rmse * 0.7,
        "r2": 1 - rmse / 2,
        "mape": rmse * 30,
        "train_seconds": 1.5,
        "n_holdout": 3_016.0,
        "n_test": 4_128.0,
    }


@pytest.fixture
def candidate_runs():
    """Six runs of four candidates, deliberately not in start-time order.

    - v2.xgboost has the best own-test RMSE (its test split is easier) but a worse
      common-holdout RMSE than v1.linear.
    - v1.linear was run twice: the older run scored better, the latest one counts.
    - v1.xgboost has no holdout metrics: it cannot be ranked.
    """
    return pd.DataFrame(
        [
            run_row("run-v1lin-new", "v1.linear", 40, holdout_rmse=0.74, rmse=0.74),
            run_row("run-v2xgb", "v2.xgboost", 30, holdout_rmse=0.78, rmse=0.45),
            run_row("run-v1lin-old", "v1.linear", 10, holdout_rmse=0.60, rmse=0.60),
            run_row("run-v3xgb", "v3.xgboost", 20, holdout_rmse=0.70, rmse=0.50),
            run_row("run-v1xgb", "v1.xgboost", 50, holdout_rmse=np.nan, rmse=0.52),
            run_row("run-v3xgb-old", "v3.xgboost", 0, holdout_rmse=0.90, rmse=0.88),
        ]
    )


@pytest.fixture
def board(candidate_runs):
    leaderboard, _ = build_leaderboard(candidate_runs)
    return leaderboard


# ------------------------------------------------------------------- build_leaderboard


def test_leaderboard_ranks_by_common_holdout_not_own_test_split(candidate_runs):
    leaderboard, _ = build_leaderboard(candidate_runs)

    assert leaderboard["candidate"].tolist() == ["v3.xgboost", "v1.linear", "v2.xgboost"]
    assert leaderboard["rank"].tolist() == [1, 2, 3]
    v1 = leaderboard.set_index("candidate").loc["v1.linear"]
    v2 = leaderboard.set_index("candidate").loc["v2.xgboost"]
    assert v2["rmse"] < v1["rmse"]  # v2 looks better on its own (easier) test split...
    assert v2["rank"] > v1["rank"]  # ...but ranks below v1 on the common holdout


def test_leaderboard_uses_only_the_latest_run_of_each_candidate(candidate_runs):
    leaderboard, _ = build_leaderboard(candidate_runs)

    assert leaderboard["candidate"].is_unique
    by_candidate = leaderboard.set_index("candidate")
    # the older v1.linear run had the best holdout RMSE of all; it must not count
    assert by_candidate.loc["v1.linear", "run_id"] == "run-v1lin-new"
    assert by_candidate.loc["v1.linear", "holdout_rmse"] == 0.74
    assert by_candidate.loc["v3.xgboost", "run_id"] == "run-v3xgb"


def test_leaderboard_leaves_out_runs_without_holdout_metrics(candidate_runs):
    leaderboard, history = build_leaderboard(candidate_runs)

    assert "v1.xgboost" not in leaderboard["candidate"].tolist()
    assert leaderboard["holdout_rmse"].notna().all()
    assert "run-v1xgb" in history["run_id"].tolist()


def test_leaderboard_has_the_documented_columns(candidate_runs):
    leaderboard, _ = build_leaderboard(candidate_runs)

    assert list(leaderboard.columns) == LEADERBOARD_COLUMNS
    assert leaderboard.index.tolist() == [0, 1, 2]


def test_leaderboard_breaks_holdout_ties_by_candidate_name(candidate_runs):
    tied = pd.concat(
        [candidate_runs, pd.DataFrame([run_row("run-v1rf", "v1.forest", 60, 0.70, 0.70)])],
        ignore_index=True,
    )

    leaderboard, _ = build_leaderboard(tied)

    assert leaderboard["candidate"].tolist()[:2] == ["v1.forest", "v3.xgboost"]
    assert leaderboard["rank"].tolist() == [1, 2, 3, 4]


def test_leaderboard_ranks_only_the_configured_candidates(candidate_runs):
    # a model removed from the zoo leaves the leaderboard, however good its old runs were
    configured = {"v1.linear": {"holdout_rmse": 0.74}, "v2.xgboost": {"holdout_rmse": 0.78}}

    leaderboard, _ = build_leaderboard(candidate_runs, **configured)

    assert leaderboard["candidate"].tolist() == ["v1.linear", "v2.xgboost"]
    assert leaderboard["rank"].tolist() == [1, 2]


def test_history_keeps_every_run_newest_first(candidate_runs):
    _, history = build_leaderboard(candidate_runs)

    assert history["run_id"].tolist() == [
        "run-v1xgb",
        "run-v1lin-new",
        "run-v2xgb",
        "run-v3xgb",
        "run-v1lin-old",
        "run-v3xgb-old",
    ]
    assert history.index.tolist() == list(range(6))


def test_build_leaderboard_leaves_its_input_unchanged(candidate_runs):
    before = candidate_runs.copy()

    build_leaderboard(candidate_runs)

    pd.testing.assert_frame_equal(candidate_runs, before)


@pytest.mark.parametrize(
    "runs",
    [
        pytest.param(
            pd.DataFrame([run_row("run-a", "v1.linear", 0, holdout_rmse=np.nan, rmse=0.7)]),
            id="no-holdout-values",
        ),
        pytest.param(
            pd.DataFrame(columns=["run_id", "candidate", "start_time"]),
            id="no-runs-no-metric-columns",
        ),
    ],
)
def test_build_leaderboard_without_rankable_runs_says_what_to_run(runs):
    with pytest.raises(ValueError, match=r"common-holdout.*kedro run --pipelines data_science"):
        build_leaderboard(runs)


# -------------------------------------------------------------------- decide_promotion


def test_no_champion_promotes_the_best_candidate(board):
    decision = decide_promotion(board, {})

    assert decision["promote"] is True
    assert "no champion" in decision["reason"]
    assert decision["candidate"] == "v3.xgboost"
    assert decision["run_id"] == "run-v3xgb"
    assert decision["data_version"] == "v3"
    assert decision["holdout_rmse"] == pytest.approx(0.70)
    assert decision["current_version"] is None


def test_better_candidate_is_promoted(board):
    champion = {"version": 3, "run_id": "run-older", "candidate": "v1.linear", "holdout_rmse": 0.71}

    decision = decide_promotion(board, champion)

    assert decision["promote"] is True
    assert "beats" in decision["reason"]
    assert decision["current_version"] == 3
    assert decision["current_candidate"] == "v1.linear"
    assert decision["current_holdout_rmse"] == 0.71


def test_worse_candidate_keeps_the_champion(board):
    champion = {"version": 3, "run_id": "run-older", "candidate": "v1.linear", "holdout_rmse": 0.69}

    decision = decide_promotion(board, champion)

    assert decision["promote"] is False
    assert "does not beat" in decision["reason"]


def test_exact_tie_keeps_the_champion(board):
    best_rmse = float(board.iloc[0]["holdout_rmse"])
    champion = {
        "version": 3,
        "run_id": "run-older",
        "candidate": "v1.linear",
        "holdout_rmse": best_rmse,
    }

    decision = decide_promotion(board, champion)

    assert decision["promote"] is False
    assert "tie" in decision["reason"]


def test_best_candidate_that_already_is_champion_is_not_promoted_again(board):
    # even with a stale, worse figure on the champion: re-registering the same run
    # would only add a duplicate version
    champion = {"version": 2, "run_id": "run-v3xgb", "candidate": "v3.xgboost", "holdout_rmse": 0.9}

    decision = decide_promotion(board, champion)

    assert decision["promote"] is False
    assert "already" in decision["reason"]


def test_champion_without_holdout_rmse_is_replaced(board):
    champion = {
        "version": 1,
        "run_id": "run-legacy",
        "candidate": "v1.linear",
        "holdout_rmse": None,
    }

    decision = decide_promotion(board, champion)

    assert decision["promote"] is True
    assert "no recorded holdout RMSE" in decision["reason"]


# ----------------------------------------------------- markdown, figures and the report


def test_leaderboard_markdown_has_one_row_per_candidate_in_rank_order(board):
    markdown = leaderboard_markdown(board)

    rows = markdown.strip().splitlines()[2:]  # after the header and the alignment row
    assert len(rows) == len(board) == 3
    for row, record in zip(rows, board.to_dict(orient="records"), strict=True):
        assert row.startswith(f"| {record['rank']} | {record['candidate']} |")
        assert f"`{record['run_id']}`" in row
        assert f"{record['holdout_rmse']:.4f}" in row


def test_plot_comparisons_returns_three_figures_outside_pyplot(board):
    open_before = plt.get_fignums()

    figures = plot_comparisons(board)

    assert len(figures) == 3
    assert all(isinstance(figure, Figure) for figure in figures)
    assert plt.get_fignums() == open_before
    overall_axes = figures[0].axes[0]
    assert len(overall_axes.patches) == len(board)  # one bar per candidate
    labels = [label.get_text() for label in overall_axes.get_yticklabels()]
    assert labels == board["candidate"].tolist()
    for figure in figures:  # drawing (layout, bar labels) works too; in memory only
        figure.savefig(io.BytesIO(), format="png", dpi=40)


def test_report_of_a_promotion_names_winner_version_and_every_run(candidate_runs):
    leaderboard, history = build_leaderboard(candidate_runs)
    decision = decide_promotion(leaderboard, {})
    champion = {
        "name": "california-housing",
        "version": 1,
        "run_id": decision["run_id"],
        "candidate": decision["candidate"],
    }

    report = write_report(leaderboard, history, decision, champion, versions=VERSIONS, split=SPLIT)

    assert "**v3.xgboost**" in report
    assert "**Promoted**" in report
    assert "**Not promoted**" not in report
    assert "version 1 of registered model `california-housing`" in report
    assert "common holdout" in report
    assert "3,016 test rows" in report
    assert "6 candidate run(s)" in report
    for run_id in leaderboard["run_id"]:
        assert f"`{run_id}`" in report


def test_report_without_promotion_names_the_champion_that_stays(board, candidate_runs):
    leaderboard, history = build_leaderboard(candidate_runs)
    champion = {
        "name": "california-housing",
        "version": 4,
        "run_id": "run-champ",
        "candidate": "v1.linear",
        "holdout_rmse": 0.65,
    }
    decision = decide_promotion(leaderboard, champion)

    report = write_report(leaderboard, history, decision, champion, versions=VERSIONS, split=SPLIT)

    assert "**Not promoted**" in report
    assert "**Promoted**" not in report
    assert "stays on version 4" in report
    assert "`run-champ`" in report
    assert "common holdout" in report
    assert "**v3.xgboost**" in report
    for run_id in leaderboard["run_id"]:
        assert f"`{run_id}`" in report


def test_report_explains_the_configured_versions_split_and_units(board, candidate_runs):
    leaderboard, history = build_leaderboard(candidate_runs)
    decision = decide_promotion(leaderboard, {})
    champion = {"name": "california-housing", "version": 1, "candidate": decision["candidate"]}

    report = write_report(leaderboard, history, decision, champion, versions=VERSIONS, split=SPLIT)

    assert "| `v1` | all rows | none | 4,128 |" in report
    assert "| `v2` | `MedHouseVal <= 5.0` and `Longitude < -119.0` | none | 4,128 |" in report
    assert "`v3` | `MedHouseVal <= 5.0` and `Longitude < -119.0` | `bedrooms_ratio` |" in report
    assert "20% of the rows held out, seed 42" in report
    assert "`v2`, `v3` keep only the rows their filters allow" in report
    assert "not comparable across versions" in report
    assert "in units of\n$100,000" in report
    assert "an RMSE of 0.70 is about\n$70,000" in report  # v3.xgboost, holdout RMSE 0.70


def test_report_follows_the_configuration_not_todays_versions(candidate_runs):
    leaderboard, history = build_leaderboard(candidate_runs)
    decision = decide_promotion(leaderboard, {})
    champion = {"name": "california-housing", "version": 1, "candidate": decision["candidate"]}
    versions = {
        "v1": {"filters": {"HouseAge": {"lt": 30}}, "features": []},
        "v3": {"filters": {"HouseAge": {"lt": 30}}, "features": ["population_density"]},
        "v9": {"filters": {}, "features": []},
    }

    report = write_report(
        leaderboard,
        history,
        decision,
        champion,
        versions=versions,
        split={"test_size": 0.25, "seed": 7},
    )

    assert "| `v1` | `HouseAge < 30` | none | 4,128 |" in report
    assert "| `v9` | all rows | none | - |" in report  # no run of v9 yet
    assert "`v1`, `v3` keep only the rows their filters allow" in report
    assert "25% of the rows held out, seed 7" in report
    assert "-119" not in report
    assert "Longitude" not in report


def test_report_without_filtered_versions_does_not_call_splits_incomparable(candidate_runs):
    leaderboard, history = build_leaderboard(candidate_runs)
    decision = decide_promotion(leaderboard, {})
    champion = {"name": "california-housing", "version": 1, "candidate": decision["candidate"]}
    versions = {name: {"filters": {}, "features": []} for name in ("v1", "v2", "v3")}

    report = write_report(leaderboard, history, decision, champion, versions=versions, split=SPLIT)

    assert "not comparable" not in report
    assert "3,016 test rows that every version" in report


def test_comparison_figures_name_the_best_candidate_and_the_unit(board):
    overall, by_version, by_model = plot_comparisons(board)

    best = "best: v3.xgboost (0.7000)"
    assert best in overall.axes[0].get_title()
    assert overall.axes[0].get_xlabel() == "RMSE on the common holdout ($100,000)"
    assert best in by_version.get_suptitle()
    assert by_version.axes[0].get_ylabel() == "holdout RMSE ($100,000)"
    assert best in by_model.axes[0].get_title()
