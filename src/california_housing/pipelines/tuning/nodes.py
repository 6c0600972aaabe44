"""Nodes of the tuning pipeline: an Optuna search with k-fold CV on the train split."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import KFold

from california_housing.modelling import build_estimator, feature_steps
from california_housing.pipelines.tuning.records import (
    TrialProgress,
    finished_states,
    trials_table,
)
from california_housing.pipelines.tuning.search_space import (
    SearchSpaceError,
    fingerprint,
    parse_search_space,
    suggest,
)
from california_housing.schema import RAW_FEATURES, TARGET

FINGERPRINT_ATTR = "config_fingerprint"

logger = logging.getLogger(__name__)


def version_tuning(
    tuning: Mapping[str, Any], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One tuned version's settings: the ``tuning`` parameters with its own overrides.

    Args:
        tuning: The ``tuning`` parameters.
        overrides: The version's entry in ``tuning.versions`` (e.g. ``{n_trials: 20}``).

    Returns:
        The settings, without ``versions``.

    Raises:
        SearchSpaceError: Naming an override that is not a tuning setting.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(tuning) | set(overrides) & {"versions", "model"})
    if unknown:
        raise SearchSpaceError(
            f"tuning.versions overrides {unknown}, which are not per-version tuning settings; "
            f"a version may override {sorted(set(tuning) - {'versions', 'model'})}."
        )
    return {k: v for k, v in tuning.items() if k != "versions"} | overrides


def search_settings(model: Mapping[str, Any], tuning: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve and check the search configuration, before any trial runs.

    Args:
        model: The base model's entry in ``models`` (class and fixed params).
        tuning: The ``tuning`` parameters.

    Returns:
        ``space`` (parsed), ``fixed_params``, ``n_trials``, ``cv_folds``, ``parallel_folds``,
        ``seed``.

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
    if "n_jobs" in tuning:
        raise SearchSpaceError(
            "tuning.n_jobs is gone: trials run one at a time (so the search does not depend "
            "on thread timing) and a trial's folds run in parallel; set "
            "tuning.parallel_folds instead."
        )
    for key in ("n_trials", "cv_folds", "parallel_folds"):
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
        "parallel_folds": tuning["parallel_folds"],
        "seed": int(tuning.get("seed", 0)),
    }


def cv_objective(
    train: pd.DataFrame,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    settings: Mapping[str, Any],
    pool: Executor,
) -> Callable[[Any], float]:
    """Build the objective: mean RMSE over k folds of ``train`` only.

    The model's feature steps (the version's features and, with ``neighbourhood``
    settings, its neighbourhood index) are fitted on each fold's fitting rows only, once
    before any trial: they do not depend on the searched parameters, so every trial fits
    the estimator alone on the same fold matrices. A trial's folds are fitted on ``pool``
    (``parallel_folds`` at a time; XGBoost releases the GIL), and their running mean is
    reported in fold order, so a pruner sees the same values whatever the threads' timing.
    Once a trial is pruned no further fold starts.

    Args:
        train: The version's train split; nothing else is seen by the search.
        model: The base model's entry in ``models``.
        version: The version's entry in ``versions`` (``features``, ``neighbourhood``).
        settings: Output of :func:`search_settings`.
        pool: Executor the folds run on.

    Returns:
        A function ``objective(trial) -> float``.
    """
    import optuna  # noqa: PLC0415 (only the tuning pipeline needs it)

    raw, y = train[RAW_FEATURES], train[TARGET].to_numpy()
    steps = feature_steps(
        version.get("features") or [], version.get("neighbourhood"), seed=settings["seed"]
    )
    cut = KFold(settings["cv_folds"], shuffle=True, random_state=settings["seed"])
    folds = []
    for fit_idx, val_idx in cut.split(raw):
        prepared = clone(steps)
        fit_matrix = np.asarray(prepared.fit_transform(raw.iloc[fit_idx], y[fit_idx]), float)
        val_matrix = np.asarray(prepared.transform(raw.iloc[val_idx]), float)
        folds.append((fit_matrix, y[fit_idx], val_matrix, y[val_idx]))

    def fold_rmse(params: dict[str, Any], fold: int) -> float:
        X_fit, y_fit, X_val, y_val = folds[fold]
        spec = {"class": model["class"], "params": params}
        estimator = build_estimator("tuned", spec, seed=settings["seed"])
        estimator.fit(X_fit, y_fit)
        return float(root_mean_squared_error(y_val, estimator.predict(X_val)))

    def objective(trial: optuna.Trial) -> float:
        params = {**settings["fixed_params"], **suggest(trial, settings["space"])}
        running = {
            fold: pool.submit(fold_rmse, params, fold)
            for fold in range(min(settings["parallel_folds"], len(folds)))
        }
        scores: list[float] = []
        try:
            for step in range(len(folds)):
                scores.append(running.pop(step).result())
                trial.report(float(np.mean(scores)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned
                upcoming = step + settings["parallel_folds"]
                if upcoming < len(folds):
                    running[upcoming] = pool.submit(fold_rmse, params, upcoming)
        finally:
            wait(running.values())  # no fold of this trial outlives it
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


def tune_hyperparameters(  # noqa: PLR0917 (a node: Kedro passes its inputs in order)
    study: Any,
    trial_runs: Callable[[Any, Any], None],
    train: pd.DataFrame,
    model: Mapping[str, Any],
    version: Mapping[str, Any],
    tuning: Mapping[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, dict[str, float]]]:
    """Run the study until it holds ``n_trials`` finished (complete or pruned) trials.

    Trials run one at a time with a seeded sampler, and each trial's folds run in
    parallel: the trials sampled, their scores and the pruning decisions do not depend on
    thread timing, so the same command gives the same search. The study lives in its
    Optuna storage: a rerun resumes it, and workers sharing the storage share it (each
    stops once the study has enough finished trials). A study that was run with another
    configuration is refused rather than silently mixed.

    Args:
        study: The ``optuna.Study`` (from :class:`OptunaStudyDataset`).
        trial_runs: Optuna callback called with each finished trial (from
            :class:`OptunaTrialRunsDataset`: records it as an MLflow run).
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
    config = {k: v for k, v in settings.items() if k not in {"parallel_folds", "n_trials"}}
    config |= {
        "features": list(version.get("features") or []),
        "rows": len(train),
        "class": model["class"],
    }
    if version.get("neighbourhood") is not None:
        config["neighbourhood"] = dict(version["neighbourhood"])
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
    remaining = settings["n_trials"] - len(
        study.get_trials(deepcopy=False, states=finished_states())
    )
    if remaining > 0:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        logger.info(
            "Optuna study %r: %d of %d trials to run, %d fold(s) at a time",
            study.study_name,
            remaining,
            settings["n_trials"],
            settings["parallel_folds"],
        )
        callbacks = [
            optuna.study.MaxTrialsCallback(settings["n_trials"], states=finished_states()),
            TrialProgress(settings["n_trials"]),
            trial_runs,
        ]
        with ThreadPoolExecutor(settings["parallel_folds"], "cv-fold") as pool:
            study.optimize(
                cv_objective(train, model, version, settings, pool),
                n_trials=remaining,
                callbacks=callbacks,
            )
    trials = trials_table(study.get_trials(deepcopy=False))
    if not (trials["state"] == "COMPLETE").any():
        raise RuntimeError(
            f"Optuna study {study.study_name!r} has no complete trial (states: "
            f"{trials['state'].value_counts().to_dict()}): no parameters to refit. Loosen "
            "tuning.pruner or raise tuning.n_trials, and rerun (the study resumes)."
        )
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
