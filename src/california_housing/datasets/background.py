"""Save kedro-mlflow datasets in a background process, so tracking does not hold up training.

Logging a model (serialising it with skops, checking its input example) and rendering a
figure take seconds of Python per candidate. :class:`BackgroundMlflowDataset` wraps a
kedro-mlflow dataset and, while a :class:`TrackingWorker` runs, hands each save to that
worker instead of doing it in the pipeline's process: the next model trains meanwhile.

- The save goes, by run id, to the run bound to the saving thread with
  :func:`bind_run` (the candidate's run, see ``hooks.py``), else to MLflow's active
  run: the worker never depends on which run is active.
- The worker is one separate process (its own interpreter, so its Python does not
  compete with training for the GIL), started with low CPU priority: it uses the core
  that single-threaded fits leave idle and yields when training wants both.
- ``CandidateRunsHook`` starts it with ``kedro run`` (or with a pipeline that has such
  datasets), opens it to saves when the pipeline starts, waits for it before anything
  outside the candidates reads MLflow and before the run ends; a save that failed in the
  worker fails the ``kedro run``, naming the file or model and the run.
- Without a worker opened by a pipeline run (a notebook's ``catalog.save``, a test,
  another runner's subprocess) the wrapped dataset saves inline, exactly as it would
  unwrapped.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import traceback
from typing import Any

from kedro.io import AbstractDataset, DatasetError

#: Niceness of the worker process: it only gets the CPU that training leaves free.
WORKER_NICENESS = 19

_worker: TrackingWorker | None = None
_bound = threading.local()  # the run this thread's background saves go to


def bind_run(run_id: str | None) -> None:
    """Send this thread's background saves to ``run_id`` (None: to the active run).

    ``CandidateRunsHook`` binds each candidate node to its child run, so the node's
    outputs reach that run without making it MLflow's active run.
    """
    _bound.run_id = run_id


def active_worker() -> TrackingWorker | None:
    """The worker started by :func:`start_worker`, if it is running."""
    return _worker if _worker is not None and _worker.alive else None


def accepting_worker() -> TrackingWorker | None:
    """The running worker, if a pipeline run has opened it to saves."""
    worker = active_worker()
    return worker if worker is not None and worker.accepting else None


def start_worker(tracking_uri: str, configs: list[dict[str, Any]]) -> TrackingWorker:
    """Start the process-wide worker (stopping any previous one).

    Args:
        tracking_uri: MLflow tracking URI the worker logs to.
        configs: Configurations of the datasets it will save; each is built once in the
            worker at start-up, so their imports are done before the first save.

    Returns:
        The running worker.
    """
    global _worker  # noqa: PLW0603 (one worker per process, like MLflow's active run)
    stop_worker()
    _worker = TrackingWorker(tracking_uri, configs)
    return _worker


def stop_worker() -> None:
    """Stop the worker, if any, without waiting for pending saves."""
    global _worker  # noqa: PLW0603
    if _worker is not None:
        _worker.stop()
        _worker = None


def _with_run_id(config: dict[str, Any], run_id: str) -> dict[str, Any]:
    """``config`` with ``run_id`` set where its kedro-mlflow dataset takes it."""
    bound = copy.deepcopy(config)
    if str(bound.get("type", "")).endswith("MlflowModelTrackingDataset"):
        bound["save_args"] = {**bound.get("save_args", {}), "run_id": run_id}  # -> Model.log
    else:
        bound["run_id"] = run_id
    return bound


def _warm_up(configs: list[dict[str, Any]]) -> None:  # pragma: no cover (worker process)
    """Pay the first save's one-off costs while the pipeline starts (on an idle core).

    Builds each dataset once (imports its modules), opens the tracking store and, for
    scikit-learn models, saves a stand-in model to a temporary folder with the same
    serialisation options: MLflow's serialiser, signature and input-example checks are
    imported and initialised before the first real model arrives.
    """
    import tempfile  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    mlflow.MlflowClient().search_experiments(max_results=1)
    for config in configs:
        dataset = AbstractDataset.from_config("warm-up", copy.deepcopy(config))
        if getattr(dataset, "_flavor", None) != "mlflow.sklearn":
            continue
        import pandas as pd  # noqa: PLC0415
        from sklearn.dummy import DummyRegressor  # noqa: PLC0415

        save_args = dict(config.get("save_args", {}))
        example = save_args.get("input_example")
        rows = pd.DataFrame([example]) if isinstance(example, dict) else pd.DataFrame({"x": [0]})
        options = ("serialization_format", "skops_trusted_types", "pip_requirements")
        with tempfile.TemporaryDirectory() as folder:
            mlflow.sklearn.save_model(
                DummyRegressor().fit(rows, [0.0]),
                f"{folder}/model",
                input_example=rows.iloc[:1],
                **{key: save_args[key] for key in options if key in save_args},
            )


def _serve(
    jobs: Any, results: Any, tracking_uri: str, configs: list[dict[str, Any]]
) -> None:  # pragma: no cover (runs in the worker process; covered through the tests)
    """The worker's loop: save each job's data with its dataset, report the outcome."""
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    import mlflow  # noqa: PLC0415

    mlflow.set_tracking_uri(tracking_uri)
    _warm_up(configs)
    experiments: dict[str, str] = {}  # run id -> its experiment
    current = None
    while (job := jobs.get()) is not None:
        job_id, name, config, payload, run_id = job
        try:
            if run_id not in experiments:
                experiments[run_id] = mlflow.get_run(run_id).info.experiment_id
            if experiments[run_id] != current:  # a logged model goes to this experiment
                current = experiments[run_id]
                mlflow.set_experiment(experiment_id=current)
            dataset = AbstractDataset.from_config(name, _with_run_id(config, run_id))
            dataset.save(pickle.loads(payload))  # noqa: S301 (our own process's bytes)
        except Exception:
            results.put((job_id, traceback.format_exc()))
        else:
            results.put((job_id, None))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # everything is saved and reported; skip the interpreter's slow teardown


class TrackingWorker:
    """One low-priority process that saves datasets for the pipeline's process."""

    def __init__(self, tracking_uri: str, configs: list[dict[str, Any]]) -> None:
        """Start the process.

        Args:
            tracking_uri: MLflow tracking URI to log to.
            configs: Dataset configurations to build once at start-up.
        """
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._jobs = context.Queue()
        self._results = context.Queue()
        self._pending: dict[int, str] = {}
        self._failures: list[str] = []
        self._lock = threading.Lock()
        self._next_id = 0
        #: Set by the pipeline run that waits for this worker; saves go inline until then.
        self.accepting = False
        self._process = context.Process(
            target=_serve,
            args=(self._jobs, self._results, tracking_uri, configs),
            name="mlflow-tracking-worker",
            daemon=True,
        )
        self._process.start()

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self._process.is_alive()

    @property
    def pending(self) -> int:
        """Number of saves handed over and not yet reported."""
        with self._lock:
            return len(self._pending)

    def submit(self, name: str, config: dict[str, Any], data: Any, run_id: str) -> None:
        """Hand one save over to the worker.

        Args:
            name: What is saved, for error messages.
            config: The wrapped dataset's configuration.
            data: What to save; pickled now, so later changes to it do not matter.
            run_id: MLflow run to save into.
        """
        payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            job_id = self._next_id
            self._next_id += 1
            self._pending[job_id] = f"{name} for run {run_id}"
        self._jobs.put((job_id, name, config, payload, run_id))

    def wait(self) -> None:
        """Block until every save handed over so far is done.

        Raises:
            DatasetError: If a save failed in the worker (its traceback is included),
                or the worker died with saves pending.
        """
        while self.pending:
            try:
                job_id, error = self._results.get(timeout=1.0)
            except queue.Empty:
                if not self.alive:
                    with self._lock:
                        lost = sorted(self._pending.values())
                        self._pending.clear()
                    self._failures.append(
                        f"the tracking worker exited (code {self._process.exitcode}) "
                        f"before saving: {', '.join(lost)}"
                    )
                continue
            with self._lock:
                name = self._pending.pop(job_id)
            if error is not None:
                self._failures.append(f"{name}:\n{error}")
        if self._failures:
            failures, self._failures = self._failures, []
            raise DatasetError(
                "Background MLflow logging failed for "
                f"{len(failures)} dataset(s). The rest of the run is saved.\n\n"
                + "\n".join(failures)
            )

    def stop(self) -> None:
        """Ask the process to exit after the saves it has, then make sure it is gone."""
        self.accepting = False
        if self._process.is_alive():
            self._jobs.put(None)
            self._process.join(timeout=30)
            if self._process.is_alive():  # pragma: no cover (a hung save)
                self._process.kill()
                self._process.join()
        self._jobs.close()
        self._results.close()


class BackgroundMlflowDataset(AbstractDataset[Any, Any]):
    """A kedro-mlflow dataset whose saves run in the :class:`TrackingWorker`.

    Wraps ``MlflowArtifactDataset``, ``MlflowMetricsHistoryDataset``,
    ``MlflowMetricDataset`` or ``MlflowModelTrackingDataset`` (given as ``dataset``, the
    way ``CachedDataset`` takes its dataset). Loads always read the wrapped dataset.

    Example (``catalog.yml``)::

        "{version}.{model}.predictions_plot":
          type: california_housing.datasets.BackgroundMlflowDataset
          dataset:
            type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
            dataset:
              type: matplotlib.MatplotlibDataset
              filepath: data/08_reporting/{version}/{model}/predictions.png
    """

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        """Build the wrapped dataset (it must be a kedro-mlflow tracking dataset).

        Args:
            dataset: Configuration of the wrapped dataset, as in the catalog.
            metadata: Kedro metadata (kedro-viz layer...); not used by the dataset.

        Raises:
            DatasetError: If ``dataset`` is not a configuration of a kedro-mlflow dataset
                that logs to a run.
        """
        if not isinstance(dataset, dict) or "type" not in dataset:
            raise DatasetError(
                "BackgroundMlflowDataset needs 'dataset': the configuration (with a "
                f"'type') of the kedro-mlflow dataset to wrap, got {dataset!r}."
            )
        if not str(dataset["type"]).startswith(("kedro_mlflow.io.", "Mlflow")):
            raise DatasetError(
                f"BackgroundMlflowDataset wraps kedro-mlflow datasets only, got type "
                f"{dataset['type']!r}. Wrap an MlflowArtifactDataset around it instead."
            )
        self._config = dataset
        self._dataset = AbstractDataset.from_config("wrapped", copy.deepcopy(dataset))
        self.metadata = metadata

    @property
    def config(self) -> dict[str, Any]:
        """Configuration of the wrapped dataset."""
        return copy.deepcopy(self._config)

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe()}

    def load(self) -> Any:
        """Load from the wrapped dataset."""
        return self._dataset.load()

    def save(self, data: Any) -> None:
        """Hand ``data`` to the worker for the bound or active run, or save it inline.

        Args:
            data: What the wrapped dataset saves.
        """
        worker = accepting_worker()
        run_id = getattr(_bound, "run_id", None) or _active_run_id()
        if worker is None or run_id is None:
            self._dataset.save(data)
            return
        worker.submit(self._label(), self._config, data, run_id)

    def _label(self) -> str:
        """What this dataset saves, for error messages: its type and file or name."""
        kind = str(self._config["type"]).rpartition(".")[2]
        inner = self._config.get("dataset")
        where = (
            (inner.get("filepath") if isinstance(inner, dict) else None)
            or self._config.get("key")
            or self._config.get("save_args", {}).get("name")
        )
        return f"{kind} ({where})" if where else kind

    def _exists(self) -> bool:
        return self._dataset.exists()


def _active_run_id() -> str | None:
    """Id of MLflow's active run in this thread, without importing MLflow when unused."""
    mlflow = sys.modules.get("mlflow")
    run = mlflow.active_run() if mlflow is not None else None
    return run.info.run_id if run is not None else None
