import copy

import optuna
import pytest

from california_housing.modelling import build_estimator
from california_housing.pipelines.tuning.nodes import search_settings
from california_housing.pipelines.tuning.search_space import (
    SearchSpaceError,
    fingerprint,
    parse_search_space,
    suggest,
)
from tests.helpers import project_parameters

PARAMETERS = project_parameters()
TUNING = PARAMETERS["tuning"]
BASE_MODEL = PARAMETERS["models"][TUNING["model"]]
SEED_SPACE = TUNING["search_spaces"]["seed"]
ALLOWED = set(build_estimator("xgboost", BASE_MODEL).get_params())


# ------------------------------------------------------------------- parse_search_space


def test_the_configured_seed_space_parses():
    space = copy.deepcopy(SEED_SPACE)

    parsed = parse_search_space(space, allowed=ALLOWED)

    assert list(parsed) == list(SEED_SPACE)
    assert parsed["learning_rate"] == {"type": "float", "low": 0.01, "high": 0.3, "log": True}
    assert parsed["n_estimators"] == {"type": "int", "low": 50, "high": 300, "log": False}
    assert space == SEED_SPACE  # the input is not modified


def test_a_parsed_space_draws_values_inside_its_ranges():
    parsed = parse_search_space(
        {
            "max_depth": {"type": "int", "low": 3, "high": 10},
            "gamma": {"type": "float", "low": 0.0, "high": 5.0, "step": 0.5},
            "booster": {"type": "categorical", "choices": ["gbtree", "dart"]},
        },
        allowed=ALLOWED,
    )
    trial = optuna.create_study().ask()

    values = suggest(trial, parsed)

    assert 3 <= values["max_depth"] <= 10
    assert isinstance(values["max_depth"], int)
    assert 0.0 <= values["gamma"] <= 5.0
    assert values["gamma"] % 0.5 == 0
    assert values["booster"] in {"gbtree", "dart"}
    assert trial.params == values


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"type": "normal", "low": 1, "high": 3}, "unknown distribution type 'normal'"),
        ({"low": 1, "high": 3}, "unknown distribution type None"),
        ({"type": "int", "low": 5, "high": 3}, r"low \(5\) > high \(3\)"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"type": "float", "low": -1.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"type": "int", "high": 3}, "needs 'low' and 'high'"),
        ({"type": "float", "low": 0.1}, "needs 'low' and 'high'"),
        (
            {"type": "int", "low": 1, "high": 3, "choices": [1]},
            r"unexpected key\(s\) \['choices'\]",
        ),
        ({"type": "categorical", "choices": [1], "low": 1}, r"unexpected key\(s\) \['low'\]"),
        ({"type": "categorical", "choices": []}, "'choices' must be a non-empty list"),
        ({"type": "categorical"}, "'choices' must be a non-empty list"),
        ({"type": "int", "low": 0.5, "high": 3}, "must be int numbers"),
        ({"type": "float", "low": "0", "high": 3}, "must be float numbers"),
        ({"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}, "step"),
    ],
)
def test_an_invalid_entry_is_refused_naming_its_key(spec, problem):
    space = {"max_depth": {"type": "int", "low": 3, "high": 10}, "gamma": spec}

    with pytest.raises(SearchSpaceError, match=problem) as excinfo:
        parse_search_space(space, allowed=ALLOWED)

    assert "search space parameter 'gamma'" in str(excinfo.value)


def test_a_parameter_the_estimator_does_not_take_is_refused():
    space = {
        "max_depth": {"type": "int", "low": 3, "high": 10},
        "max_dpeth": SEED_SPACE["max_depth"],
    }

    with pytest.raises(SearchSpaceError, match="'max_dpeth': unknown parameter of the estimator"):
        parse_search_space(space, allowed=ALLOWED)


def test_an_empty_space_is_refused():
    with pytest.raises(SearchSpaceError, match="search space is empty"):
        parse_search_space({}, allowed=ALLOWED)


def test_fingerprint_is_stable_and_sensitive():
    config = {"space": parse_search_space(SEED_SPACE), "seed": 42}

    assert fingerprint(config) == fingerprint(copy.deepcopy(config))
    assert fingerprint(config) != fingerprint({**config, "seed": 43})
    assert len(fingerprint(config)) == 12


# ----------------------------------------------------------------------- search_settings


def test_search_settings_of_the_configured_tuning():
    settings = search_settings(BASE_MODEL, TUNING)

    chosen = TUNING["search_spaces"][TUNING["search_space"]]
    assert settings["space"] == parse_search_space(chosen)
    assert settings["fixed_params"] == {**BASE_MODEL["params"], **TUNING["fixed_params"]}
    assert settings["fixed_params"]["n_jobs"] == 1  # tuning.fixed_params wins
    assert {k: settings[k] for k in ("n_trials", "cv_folds", "parallel_folds", "seed")} == {
        k: TUNING[k] for k in ("n_trials", "cv_folds", "parallel_folds", "seed")
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"search_space": "nope"},
            r"tuning.search_space 'nope' is not one of .*\['focused', 'seed'\]",
        ),
        ({"cv_folds": 1}, "tuning.cv_folds must be at least 2, got 1"),
        ({"cv_folds": 0}, "tuning.cv_folds must be a positive integer, got 0"),
        ({"n_trials": 0}, "tuning.n_trials must be a positive integer, got 0"),
        ({"n_trials": "10"}, "tuning.n_trials must be a positive integer, got '10'"),
        ({"parallel_folds": -1}, "tuning.parallel_folds must be a positive integer, got -1"),
        ({"n_jobs": 2}, "tuning.n_jobs is gone"),
    ],
)
def test_search_settings_refuses_bad_settings_naming_the_key(change, problem):
    tuning = {**copy.deepcopy(TUNING), **change}

    with pytest.raises(SearchSpaceError, match=problem):
        search_settings(BASE_MODEL, tuning)


def test_search_settings_refuses_a_space_parameter_of_another_estimator():
    linear = {"class": "sklearn.linear_model.LinearRegression", "params": {}}

    with pytest.raises(SearchSpaceError, match="'n_estimators': unknown parameter"):
        search_settings(linear, {**TUNING, "fixed_params": {}})
