"""Nodes of the tuning pipeline: an Optuna search with k-fold CV on the train split."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import KFold

from california_housing.features import FeatureEngineer
from california_housing.modelling import build_estimator
from california_housing.pipelines.tuning.search_space import (
    SearchSpaceError,
    fingerprint,
    parse_search_space,
    suggest,
)
from california_housing.schema import RAW_FEATURES, TARGET

FINGERPRINT_ATTR = "config_fingerprint"


def search_settings(model: Mapping[str, Any], tuning: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve and check the search configuration, before any trial runs.

    Args:
        model: The base model's entry in ``models`` (class and fixed params).
        tuning: The ``tuning`` parameters.

    Returns:
        ``space`` (parsed), ``fixed_params``, ``n_trials``, ``cv_folds``, ``n_jobs``, ``seed``.

    Raises:
        SearchSpaceError: Naming the offending key.
    """
    preset = tuning.get("search_space")
    spaces = tuning.get("search_spaces") or {}
    if preset not in spaces:
        raise SearchSpaceError(
            f"tuning.search_space {preset!r} is not one of tuning.search_spaces: {sorted(spaces)}."
        )
    fixed = {**(model.get("params") or {}), **(tuning.get("fixed_params") or {})}
    estimator = build_estimator(
        str(tuning.get("model")), {"class": model["class"], "params": fixed}
    )
    space = parse_search_space(spaces[preset], allowed=set(estimator.get_params()))
    for key in ("n_trials", "cv_folds", "n_jobs"):
        if not isinstance(tuning.get(key), int) or tuning[key] < 1:
            raise SearchSpaceError(
                f"tuning.{key} must be a positive integer, got {tuning.get(key)!r}."
            )
    if tuning["cv_folds"] < 2:
        raise SearchSpaceError(f"tuning.cv_folds must be at least 2, got {tuning['cv_folds']}.")
    return {
        "space": space,
        "fixed_params": fixed,
        "n_trials": tuning["n_trials"],
        "cv_folds": tuning["cv_folds"],
        "n_jobs": tuning["n_jobs"],
        "seed": int(tuning.get("seed", 0)),
    }


def cv_objective(
    train: pd.DataFrame,
    model: Mapping[str, Any],
    features: list[str],
    settings: Mapping[str, Any],
) -> Any:
    """Build the objective: mean RMSE over k folds of ``train`` only.

    The running mean is reported after each fold so a pruner can stop a trial early.

    Args:
        train: The version's train split; nothing else is seen by the search.
        model: The base model's entry in ``models``.
        features: Engineered features of the version.
        settings: Output of :func:`search_settings`.

    Returns:
        A function ``objective(trial) -> float``.
    """
    import optuna  # noqa: PLC0415 (only the tuning pipeline needs it)

    X = FeatureEngineer(features).fit_transform(train[RAW_FEATURES]).to_numpy()
    y = train[TARGET].to_numpy()
    folds = list(KFold(settings["cv_folds"], shuffle=True, random_state=settings["seed"]).split(X))

    def objective(trial: optuna.Trial) -> float:
        params = {**settings["fixed_params"], **suggest(trial, settings["space"])}
        scores = []
        for step, (fit_idx, val_idx) in enumerate(folds):
            estimator = build_estimator(
                "tuned", {"class": model["class"], "params": params}, seed=settings["seed"]
            )
            estimator.fit(X[fit_idx], y[fit_idx])
            scores.append(root_mean_squared_error(y[val_idx], estimator.predict(X[val_idx])))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned
        return float(np.mean(scores))

    return objective


def _sampler_and_pruner(tuning: Mapping[str, Any], seed: int) -> tuple[Any, Any]:
    import optuna  # noqa: PLC0415

    sampler_conf = dict(tuning.get("sampler") or {"type": "TPESampler"})
    pruner_conf = dict(tuning.get("pruner") or {"type": "NopPruner"})
    try:
        sampler = getattr(optuna.samplers, sampler_conf.pop("type"))(seed=seed, **sampler_conf)
        pruner = getattr(optuna.pruners, pruner_conf.pop("type"))(**pruner_conf)
    except (AttributeError, TypeError) as exc:
        raise SearchSpaceError(f"tuning.sampler / tuning.pruner: {exc}") from None
    return sampler, pruner


def tune_hyperparameters(
    study: Any,
    train: pd.DataFrame,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    tuning: Mapping[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, dict[str, float]]]:
    """Run the study until it holds ``n_trials`` finished (complete or pruned) trials.

    The study lives in its Optuna storage: a rerun resumes it, and workers sharing the
    storage share it (each stops once the study has enough finished trials). A study
    that was run with another configuration is refused rather than silently mixed.

    Args:
        study: The ``optuna.Study`` (from :class:`OptunaStudyDataset`).
        train: The version's train split. The test split is not an input.
        model: The base model's entry in ``models``.
        version: The version's entry in ``versions`` (its features are used).
        tuning: The ``tuning`` parameters.

    Returns:
        The best trial (params, CV RMSE, number), the trials table, and study metrics
        in kedro-mlflow's form.
    """
    import optuna  # noqa: PLC0415

    settings = search_settings(model, tuning)
    features = list(version.get("features") or [])
    config = {k: v for k, v in settings.items() if k not in {"n_jobs", "n_trials"}}
    config |= {"features": features, "rows": len(train), "class": model["class"]}
    stamp = fingerprint(config)
    previous = study.user_attrs.get(FINGERPRINT_ATTR)
    if previous is not None and previous != stamp:
        raise SearchSpaceError(
            f"Optuna study {study.study_name!r} holds trials of another search configuration "
            f"({previous} != {stamp}). Give this search its own study name in the catalog, "
            "or delete the old study from the storage."
        )
    study.set_user_attr(FINGERPRINT_ATTR, stamp)
    study.sampler, study.pruner = _sampler_and_pruner(tuning, settings["seed"])
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = settings["n_trials"] - len(study.get_trials(deepcopy=False, states=finished))
    if remaining > 0:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study.optimize(
            cv_objective(train, model, features, settings),
            n_trials=remaining,
            n_jobs=settings["n_jobs"],
            callbacks=[optuna.study.MaxTrialsCallback(settings["n_trials"], states=finished)],
        )
    trials = trials_table(study.get_trials(deepcopy=False))
    best = study.best_trial
    states = trials["state"].value_counts()
    summary = {
        "best_cv_rmse": float(best.value),
        "n_trials_complete": float(states.get("COMPLETE", 0)),
        "n_trials_pruned": float(states.get("PRUNED", 0)),
    }
    best_params = {
        "params": dict(best.params),
        "cv_rmse": float(best.value),
        "trial": best.number,
        "study": study.study_name,
        "config_fingerprint": stamp,
    }
    return best_params, trials, {k: {"value": v, "step": 0} for k, v in summary.items()}


def trials_table(trials: list[Any]) -> pd.DataFrame:
    """Tabulate Optuna trials.

    Args:
        trials: ``optuna.trial.FrozenTrial`` objects.

    Returns:
        One row per trial: number, state, value, duration, start/end, each parameter
        (``params_<name>``) and the per-fold running means as JSON.
    """
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "duration_seconds": t.duration.total_seconds() if t.duration else None,
            "datetime_start": t.datetime_start,
            "datetime_complete": t.datetime_complete,
            **{f"params_{k}": v for k, v in t.params.items()},
            "intermediate_values": json.dumps(
                {str(k): v for k, v in t.intermediate_values.items()}
            ),
        }
        for t in trials
    ]
    return pd.DataFrame(rows)


def tuned_model_spec(
    model: Mapping[str, Any], tuning: Mapping[str, Any], best: Mapping[str, Any]
) -> dict[str, Any]:
    """The model entry of the tuned candidate: base params, fixed params, best params.

    Args:
        model: The base model's entry in ``models``.
        tuning: The ``tuning`` parameters (their ``fixed_params``).
        best: Output of :func:`tune_hyperparameters`.

    Returns:
        A model entry for ``fit_model``.
    """
    params = {**(model.get("params") or {}), **(tuning.get("fixed_params") or {}), **best["params"]}
    return {"class": model["class"], "params": params}


def plot_study(study: Any, trials: pd.DataFrame, seed: int) -> tuple[Figure, Figure]:
    """Optuna's optimization-history and parameter-importance figures.

    Args:
        study: The study, re-opened from its storage.
        trials: The trials table (orders this node after the search).
        seed: Seed of the importance evaluator.

    Returns:
        The history figure and the importance figure.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import optuna  # noqa: PLC0415
    from optuna.visualization import matplotlib as optuna_plots  # noqa: PLC0415

    complete = int((trials["state"] == "COMPLETE").sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        history = optuna_plots.plot_optimization_history(study).figure
        if complete >= 2:
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
            importance = optuna_plots.plot_param_importances(study, evaluator=evaluator).figure
        else:
            importance = Figure()
            importance.text(
                0.5, 0.5, f"{complete} complete trial(s): too few for importances", ha="center"
            )
    for figure in (history, importance):
        figure.set_size_inches(9, 5)
        figure.set_layout_engine("constrained")
        plt.close(figure)  # Optuna draws through pyplot; release its reference
    return history, importance
