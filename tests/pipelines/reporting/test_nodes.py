import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.linear_model import LinearRegression
from xgboost import XGBRegressor

from california_housing.modelling import make_model
from california_housing.pipelines.reporting.figures import (
    plot_comparisons,
    plot_error_map,
    plot_importances,
)
from california_housing.pipelines.reporting.nodes import (
    LEADERBOARD_COLUMNS,
    build_leaderboard,
    decide_promotion,
    describe_champion,
    importances,
    leaderboard_markdown,
    rescore_champion,
    write_report,
)
from california_housing.schema import RAW_FEATURES, TARGET
from tests.helpers import project_parameters, version_splits

T0 = pd.Timestamp("2026-01-05 09:00", tz="UTC")
INLAND_CAPPED = {"MedHouseVal": {"le": 5.0}, "Longitude": {"lt": -119.0}}
VERSIONS = {
    "v1": {"filters": {}, "features": []},
    "v2": {"filters": INLAND_CAPPED, "features": []},
    "v3": {"filters": INLAND_CAPPED, "features": ["bedrooms_ratio"]},
    "v4": {"filters": {}, "features": ["rotated_45"], "neighbourhood": {"k": 10}},
}
SPLIT = {"test_size": 0.2, "seed": 42, "place_resolution": 0.01}
COVERAGE = {
    "description": "the whole state",
    "filters": {},
    "rows": 20_640,
    "versions": {
        "v1": {"covers": True, "rows_kept": 20_640},
        "v2": {"covers": False, "rows_kept": 9_261},
        "v3": {"covers": False, "rows_kept": 9_261},
        "v4": {"covers": True, "rows_kept": 20_640},
    },
}


def run_row(run_id, candidate, minute, *, population_rmse, holdout_rmse, rmse=None):
    """One candidate run as MlflowCandidateRunsDataset returns it."""
    version, _, model_type = candidate.partition(".")
    rmse = holdout_rmse if rmse is None else rmse
    return {
        "run_id": run_id,
        "parent_run_id": f"parent-{minute}",
        "candidate": candidate,
        "data_version": version,
        "model_type": model_type,
        "git_commit": "abc123",
        "kedro_env": "test",
        "start_time": T0 + pd.Timedelta(minutes=minute),
        **{f"population_{k}": v for k, v in _scores(population_rmse).items()},
        **{f"holdout_{k}": v for k, v in _scores(holdout_rmse).items()},
        **_scores(rmse),
        "train_seconds": 1.5,
        "n_population": 4_128.0,
        "n_holdout": 1_820.0,
        "n_test": 4_128.0 if version in ("v1", "v4") else 1_820.0,
    }


def _scores(rmse):
    return {"rmse": rmse, "mae": rmse * 0.7, "r2": 1 - rmse / 2, "mape": rmse * 30}


@pytest.fixture
def candidate_runs():
    """Seven runs of five candidates, deliberately not in start-time order.

    - v2.xgboost is the best on the common holdout (and on its own easy test split), but
      v2 does not cover the whole state: it cannot be promoted.
    - v4.xgboost is the best eligible candidate on the population's test rows.
    - v1.linear was run twice: the older run scored better, the latest one counts.
    - v1.xgboost has no population metrics (a run from before they existed): not ranked.
    """
    return pd.DataFrame(
        [
            run_row("run-v1lin-new", "v1.linear", 40, population_rmse=0.80, holdout_rmse=0.74),
            run_row("run-v2xgb", "v2.xgboost", 30, population_rmse=0.70, holdout_rmse=0.45),
            run_row("run-v1lin-old", "v1.linear", 10, population_rmse=0.60, holdout_rmse=0.60),
            run_row("run-v4xgb", "v4.xgboost", 20, population_rmse=0.42, holdout_rmse=0.47),
            run_row("run-v3lin", "v3.linear", 25, population_rmse=0.90, holdout_rmse=0.62),
            run_row("run-v1xgb", "v1.xgboost", 50, population_rmse=np.nan, holdout_rmse=0.5),
            run_row("run-v4xgb-old", "v4.xgboost", 0, population_rmse=0.99, holdout_rmse=0.9),
        ]
    )


@pytest.fixture
def board(candidate_runs):
    leaderboard, _ = build_leaderboard(candidate_runs, COVERAGE)
    return leaderboard


# ------------------------------------------------------------------- build_leaderboard


def test_leaderboard_puts_eligible_candidates_first_by_their_population_score(board):
    assert board["candidate"].tolist() == ["v4.xgboost", "v1.linear", "v2.xgboost", "v3.linear"]
    assert board["eligible"].tolist() == [True, True, False, False]
    assert board["rank"].tolist() == [1, 2, 3, 4]
    # v2.xgboost is ahead of v1.linear on the population too, but v2 does not cover it
    by_candidate = board.set_index("candidate")
    assert by_candidate.loc["v2.xgboost", "population_rmse"] < 0.80


def test_leaderboard_keeps_the_common_holdout_rank_as_the_cross_version_comparison(board):
    holdout = board.set_index("candidate")["holdout_rank"].to_dict()

    assert holdout == {"v2.xgboost": 1, "v4.xgboost": 2, "v3.linear": 3, "v1.linear": 4}


def test_leaderboard_uses_only_the_latest_run_of_each_candidate(board):
    by_candidate = board.set_index("candidate")

    assert board["candidate"].is_unique
    # the older v1.linear run scored better everywhere; it must not count
    assert by_candidate.loc["v1.linear", "run_id"] == "run-v1lin-new"
    assert by_candidate.loc["v4.xgboost", "run_id"] == "run-v4xgb"


def test_leaderboard_leaves_out_runs_without_both_scores(candidate_runs):
    leaderboard, history = build_leaderboard(candidate_runs, COVERAGE)

    assert "v1.xgboost" not in leaderboard["candidate"].tolist()
    assert leaderboard[["population_rmse", "holdout_rmse"]].notna().all().all()
    assert "run-v1xgb" in history["run_id"].tolist()


def test_leaderboard_has_the_documented_columns(board):
    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert board.index.tolist() == [0, 1, 2, 3]


def test_leaderboard_breaks_ties_by_candidate_name(candidate_runs):
    tie = run_row("run-v1rf", "v1.forest", 60, population_rmse=0.42, holdout_rmse=0.5)
    tied = pd.concat([candidate_runs, pd.DataFrame([tie])], ignore_index=True)

    leaderboard, _ = build_leaderboard(tied, COVERAGE)

    assert leaderboard["candidate"].tolist()[:2] == ["v1.forest", "v4.xgboost"]


def test_a_version_missing_from_the_coverage_is_not_eligible(candidate_runs):
    unknown = run_row("run-v9", "v9.linear", 70, population_rmse=0.1, holdout_rmse=0.1)
    runs = pd.concat([candidate_runs, pd.DataFrame([unknown])], ignore_index=True)

    leaderboard, _ = build_leaderboard(runs, COVERAGE)

    assert not leaderboard.set_index("candidate").loc["v9.linear", "eligible"]
    assert leaderboard["candidate"].iloc[0] == "v4.xgboost"


def test_leaderboard_ranks_only_the_configured_candidates(candidate_runs):
    # a model removed from the zoo leaves the leaderboard, however good its old runs were
    configured = {"v1.linear": {}, "v2.xgboost": {}}

    leaderboard, _ = build_leaderboard(candidate_runs, COVERAGE, **configured)

    assert leaderboard["candidate"].tolist() == ["v1.linear", "v2.xgboost"]


def test_history_keeps_every_run_newest_first(candidate_runs):
    _, history = build_leaderboard(candidate_runs, COVERAGE)

    assert history["run_id"].tolist() == [
        "run-v1xgb",
        "run-v1lin-new",
        "run-v2xgb",
        "run-v3lin",
        "run-v4xgb",
        "run-v1lin-old",
        "run-v4xgb-old",
    ]


def test_build_leaderboard_leaves_its_input_unchanged(candidate_runs):
    before = candidate_runs.copy()

    build_leaderboard(candidate_runs, COVERAGE)

    pd.testing.assert_frame_equal(candidate_runs, before)


@pytest.mark.parametrize(
    "runs",
    [
        pytest.param(
            pd.DataFrame(
                [run_row("run-a", "v1.linear", 0, population_rmse=np.nan, holdout_rmse=0.7)]
            ),
            id="no-population-values",
        ),
        pytest.param(
            pd.DataFrame(columns=["run_id", "candidate", "start_time"]),
            id="no-runs-no-metric-columns",
        ),
    ],
)
def test_build_leaderboard_without_rankable_runs_says_what_to_run(runs):
    with pytest.raises(
        ValueError, match=r"population and common-holdout.*--pipelines data_science"
    ):
        build_leaderboard(runs, COVERAGE)


# -------------------------------------------------------------------- decide_promotion


def champion(candidate="v1.linear", population_rmse=0.5, **more):
    return {
        "version": 3,
        "run_id": "run-older",
        "candidate": candidate,
        "data_version": candidate.partition(".")[0],
        "population_rmse": population_rmse,
        **more,
    }


def test_no_champion_promotes_the_best_eligible_candidate_not_the_holdout_best(board):
    decision = decide_promotion(board, {}, COVERAGE)

    assert decision["promote"] is True
    assert "no champion" in decision["reason"]
    assert (decision["candidate"], decision["run_id"]) == ("v4.xgboost", "run-v4xgb")
    assert decision["data_version"] == "v4"
    assert decision["population_rmse"] == pytest.approx(0.42)
    assert decision["holdout_rmse"] == pytest.approx(0.47)
    assert decision["ranked_on"] == "population_rmse"
    assert (decision["population"], decision["population_rows"]) == ("the whole state", 4_128)
    assert decision["current_version"] is None


def test_better_candidate_is_promoted(board):
    decision = decide_promotion(board, champion(population_rmse=0.43), COVERAGE)

    assert decision["promote"] is True
    assert "population RMSE 0.4200 beats the champion's 0.4300" in decision["reason"]
    assert decision["current_version"] == 3
    assert decision["current_population_rmse"] == 0.43


def test_worse_candidate_keeps_the_champion(board):
    decision = decide_promotion(board, champion(population_rmse=0.41), COVERAGE)

    assert decision["promote"] is False
    assert "does not beat" in decision["reason"]


def test_exact_tie_keeps_the_champion(board):
    decision = decide_promotion(board, champion(population_rmse=0.42), COVERAGE)

    assert decision["promote"] is False
    assert "tie" in decision["reason"]


def test_best_candidate_that_already_is_champion_is_not_promoted_again(board):
    current = champion("v4.xgboost", population_rmse=0.9, run_id="run-v4xgb")

    decision = decide_promotion(board, current, COVERAGE)

    assert decision["promote"] is False
    assert "already" in decision["reason"]


def test_a_champion_whose_version_does_not_cover_the_population_is_replaced(board):
    # e.g. a v3 specialist promoted when candidates were ranked on the common holdout
    current = champion("v3.xgboost", population_rmse=0.40, recorded_population_rmse=None)

    decision = decide_promotion(board, current, COVERAGE)

    assert decision["promote"] is True
    assert "data version (v3) does not cover the served population" in decision["reason"]
    assert decision["current_data_version"] == "v3"


def test_no_eligible_candidate_stops_the_gate_naming_the_versions_that_would_be(board):
    filtered_only = board[~board["eligible"]]

    with pytest.raises(ValueError, match=r"No candidate .* covers .*\['v1', 'v4'\]"):
        decide_promotion(filtered_only, {}, COVERAGE)


# -------------------------------------------------------------------- rescore_champion


class Constant:
    """A 'model' that predicts one value, so expected RMSEs are known."""

    def __init__(self, value):
        self.value = value

    def predict(self, rows):
        assert list(rows.columns) == RAW_FEATURES
        return np.full(len(rows), self.value)


def test_the_champion_is_rescored_on_todays_population_and_holdout_rows(generated_raw):
    validated = generated_raw.rename_axis("row_id")
    population = validated.iloc[:100]
    holdout_ids = pd.DataFrame({"row_id": validated.index[100:150]})
    current = {"version": 2, "model": Constant(2.0), "population_rmse": None, "holdout_rmse": 0.3}

    rescored = rescore_champion(current, population, validated, holdout_ids)

    def rmse(rows):
        return float(np.sqrt(((rows[TARGET] - 2.0) ** 2).mean()))

    assert "model" not in rescored
    assert rescored["population_rmse"] == pytest.approx(rmse(population))
    assert rescored["holdout_rmse"] == pytest.approx(rmse(validated.iloc[100:150]))
    assert rescored["recorded_population_rmse"] is None  # promoted before it was recorded
    assert rescored["recorded_holdout_rmse"] == 0.3
    assert rescore_champion({}, population, validated, holdout_ids) == {}


# ------------------------------------------------------------------- describe_champion


@pytest.fixture(scope="module")
def fitted(generated_raw):
    """A v4-shaped XGBoost champion on generated rows, and the whole state's test rows."""
    parameters = project_parameters()
    splits, _ = version_splits(generated_raw, parameters)
    train, test = splits["v4"]
    v4 = parameters["versions"]["v4"]
    model = make_model(
        XGBRegressor(n_estimators=20, max_depth=3), v4["features"], v4["neighbourhood"], seed=1
    ).fit(train[RAW_FEATURES], train[TARGET])
    return model, test[[*RAW_FEATURES, TARGET]]


def test_describe_champion_scores_it_by_domain_and_on_the_capped_values(fitted):
    model, population = fitted
    current = {"name": "california-housing", "version": 5, "candidate": "v4.xgboost"}

    card, rows = describe_champion(current | {"model": model}, population, VERSIONS)

    errors = card["errors"]
    residual = population[TARGET] - model.predict(population[RAW_FEATURES])
    capped = population[TARGET] > 5.0
    inside = (population[TARGET] <= 5.0) & (population["Longitude"] < -119.0)
    assert "model" not in card
    assert errors["rows"] == len(population)
    assert errors["rmse"] == pytest.approx(np.sqrt((residual**2).mean()))
    assert set(errors["domains"]) == {"v2", "v3"}  # the filtered versions
    assert errors["domains"]["v2"]["rows"] == inside.sum()
    assert errors["domains"]["v2"]["rmse"] == pytest.approx(np.sqrt((residual[inside] ** 2).mean()))
    assert errors["domains"]["v2"]["outside_rows"] == (~inside).sum()
    assert errors["capped_rows"] == capped.sum() > 0
    assert errors["capped_rmse"] == pytest.approx(np.sqrt((residual[capped] ** 2).mean()))
    np.testing.assert_allclose(rows["residual"], residual)


def test_importances_name_the_features_the_estimator_sees(fitted, generated_raw):
    model, _ = fitted
    linear = make_model(LinearRegression(), ["bedrooms_ratio"]).fit(
        generated_raw[RAW_FEATURES], generated_raw[TARGET]
    )

    trees, coefficients = importances(model, top=5), importances(linear)

    assert len(trees["importances"]) == 5
    assert set(trees["importances"]) <= set(model[:-1].get_feature_names_out())
    values = list(trees["importances"].values())
    assert values == sorted(values, reverse=True)
    assert trees["importance_kind"] == "importance"
    assert set(coefficients["importances"]) == {*RAW_FEATURES, "bedrooms_ratio"}
    assert coefficients["importance_kind"].startswith("|coefficient|")


# ----------------------------------------------------- markdown, figures and the report


def test_leaderboard_markdown_has_one_row_per_candidate_in_rank_order(board):
    markdown = leaderboard_markdown(board)

    rows = markdown.strip().splitlines()[2:]  # after the header and the alignment row
    assert len(rows) == len(board) == 4
    for row, record in zip(rows, board.to_dict(orient="records"), strict=True):
        assert row.startswith(f"| {record['rank']} | {record['candidate']} |")
        assert f"`{record['run_id']}`" in row
        assert f"{record['population_rmse']:.4f}" in row
        assert f"{record['holdout_rmse']:.4f}" in row
    assert "| 3 | v2.xgboost | no |" in markdown


def test_figures_are_drawn_outside_pyplot(board, fitted):
    model, population = fitted
    card, rows = describe_champion(
        {"candidate": "v4.xgboost", "model": model}, population, VERSIONS
    )
    open_before = plt.get_fignums()

    figures = [*plot_comparisons(board), plot_error_map(rows, card), plot_importances(card)]

    assert all(isinstance(figure, Figure) for figure in figures)
    assert plt.get_fignums() == open_before
    gate_axes = figures[0].axes[0]
    assert [label.get_text() for label in gate_axes.get_yticklabels()] == board[
        "candidate"
    ].tolist()
    colours = [patch.get_facecolor() for patch in gate_axes.patches]
    assert colours[0] != colours[1] != colours[2]  # the best in green, eligible, ineligible
    assert len(figures[3].axes[0].collections) == 1  # one hexbin per panel
    for figure in figures:  # drawing (layout, labels) works too; in memory only
        figure.savefig(io.BytesIO(), format="png", dpi=40)


def test_comparison_figures_name_the_gates_choice_and_the_unit(board):
    overall, by_version, by_model = plot_comparisons(board)

    choice = "gate's choice: v4.xgboost (0.4200)"
    assert choice in overall.get_suptitle()
    assert overall.axes[0].get_xlabel() == "RMSE on the served population's test rows ($100,000)"
    assert overall.axes[1].get_xlabel() == "RMSE on the common holdout ($100,000)"
    assert choice in by_version.get_suptitle()
    assert by_version.axes[0].get_ylabel() == "RMSE ($100,000)"
    assert "cross-version" in by_model.axes[0].get_title()


@pytest.fixture
def promoted_card(fitted):
    model, population = fitted
    current = {
        "name": "california-housing",
        "version": 5,
        "run_id": "run-v4xgb",
        "candidate": "v4.xgboost",
        "data_version": "v4",
    }
    card, _ = describe_champion(current | {"model": model}, population, VERSIONS)
    return card


def report_of(candidate_runs, current, card):
    leaderboard, history = build_leaderboard(candidate_runs, COVERAGE)
    decision = decide_promotion(leaderboard, current, COVERAGE)
    return write_report(
        leaderboard, history, decision, card, COVERAGE, versions=VERSIONS, split=SPLIT
    )


def test_report_of_a_promotion_says_why_and_how_the_champion_answers(candidate_runs, promoted_card):
    report = report_of(candidate_runs, {}, promoted_card)

    errors = promoted_card["errors"]
    assert "**Promoted**: `v4.xgboost` (run `run-v4xgb`)" in report
    assert "version\n5 of registered model `california-housing`" in report
    assert "because\nthere is no champion yet" in report
    assert f"| every test row of the served population | {errors['rows']:,} |" in report
    assert "| inside `v2`'s domain (`MedHouseVal <= 5.0` and `Longitude < -119.0`)" in report
    assert "inside `v3`'s domain" not in report  # the same domain as v2's, listed once
    assert "![The champion's errors by location](champion_error_map.png)" in report
    assert "![The champion's feature importances](champion_importances.png)" in report
    assert f"{errors['capped_rows']:,} of these {errors['rows']:,} test rows hold it" in report
    assert "predictions are not clipped" in report
    for run_id in ("run-v4xgb", "run-v1lin-new", "run-v2xgb", "run-v3lin"):
        assert f"`{run_id}`" in report
    assert "7 candidate run(s)" in report


def test_report_says_which_score_the_gate_used_and_why(candidate_runs, promoted_card):
    report = report_of(candidate_runs, {}, promoted_card)

    assert "The service answers for the whole state (all rows): 20,640" in report
    assert "- `v2`: does not (keeps 9,261 of the 20,640 rows)" in report
    assert "- `v4`: covers it" in report
    assert "the score the gate used" in report
    assert "(`population_rmse`)" in report
    assert "Best on the common holdout: `v2.xgboost`\n(0.4500)" in report
    assert "1,820\ntest rows every version contains" in report
    assert "not which model\nshould answer the served population" in report


def test_report_of_a_replaced_champion_says_it_was_rescored(candidate_runs, promoted_card):
    current = champion(
        "v3.xgboost",
        population_rmse=0.656,
        recorded_population_rmse=None,
        name="california-housing",
    )

    report = report_of(candidate_runs, current, promoted_card)

    assert "data version (v3) does not cover the served population" in report
    assert "data version `v3`) was re-scored on today's rows: population RMSE\n0.6560" in report
    assert "promoted on the common holdout alone" in report


def test_report_without_promotion_names_the_champion_that_stays(candidate_runs, promoted_card):
    current = champion(
        "v4.xgboost", population_rmse=0.40, recorded_population_rmse=0.41, run_id="run-champ"
    )
    card = promoted_card | {"version": 3, "run_id": "run-champ"}

    report = report_of(candidate_runs, current, card)

    assert "**Not promoted**: population RMSE 0.4200 does not beat the champion's 0.4000" in report
    assert "stays on version\n3 (`v4.xgboost`, run `run-champ`)" in report
    assert "(recorded at its promotion: 0.4100)" in report


def test_report_lists_the_configured_versions_with_their_features(candidate_runs, promoted_card):
    report = report_of(candidate_runs, {}, promoted_card)

    assert "| `v1` | all rows | none | none | yes | 4,128 |" in report
    assert (
        "| `v2` | `MedHouseVal <= 5.0` and `Longitude < -119.0` | none | none | no | 1,820 |"
        in (report)
    )
    assert "| `v4` | all rows | `rotated_45` | k = 10 | yes | 4,128 |" in report
    assert "20% of the rows held out, seed 42" in report
    assert "in units of\n$100,000" in report
