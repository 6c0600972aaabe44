"""What a search leaves to read: a log line per trial, the trials table, Optuna's figures."""

from __future__ import annotations

import json
import logging
import time
import warnings
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def finished_states() -> tuple[Any, ...]:
    """The trial states that count towards ``n_trials``: complete and pruned."""
    from optuna.trial import TrialState  # noqa: PLC0415

    return (TrialState.COMPLETE, TrialState.PRUNED)


class TrialProgress:
    """Optuna callback: one log line per finished trial, with the best so far and an ETA.

    The count is the study's (every worker's finished trials); the estimate of the time
    left is this worker's pace over the trials still missing.
    """

    def __init__(self, n_trials: int) -> None:
        """Start the clock.

        Args:
            n_trials: Finished trials the study must hold.
        """
        self.n_trials = n_trials
        self.started = time.monotonic()
        self.done_here = 0

    def __call__(self, study: Any, trial: Any) -> None:
        """Log the line for ``trial`` (a ``FrozenTrial``) of ``study``."""
        import optuna  # noqa: PLC0415

        self.done_here += 1
        elapsed = time.monotonic() - self.started
        finished = len(study.get_trials(deepcopy=False, states=finished_states()))
        left = max(self.n_trials - finished, 0)
        state, label = trial.state.name, "cv_rmse"
        if trial.state == optuna.trial.TrialState.PRUNED:
            state += f" after {len(trial.intermediate_values)} fold(s)"
            label = "running mean"  # of the folds it ran: not a CV score
        value = f"{label} {trial.value:.5f}" if trial.value is not None else "no value"
        try:
            best = f"best {study.best_value:.5f} (trial {study.best_trial.number})"
        except ValueError:  # no complete trial yet
            best = "no complete trial yet"
        logger.info(
            "trial %d (%d/%d finished): %s, %s; %s; %.1f s elapsed, ~%.0f s left",
            trial.number,
            finished,
            self.n_trials,
            state,
            value,
            best,
            elapsed,
            elapsed / self.done_here * left,
        )


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
