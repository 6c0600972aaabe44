"""Warnings that libraries raise about their own code, ignored at their source.

A user of this project can do nothing about them. Each filter names the message and the
module that raises it, so the same warning about this project's code still shows. One
warning cannot be filtered (see :func:`_import_kedro_mlflow_models`).

:func:`quiet` runs before anything else in a ``kedro`` command: it is the project's
``kedro.init`` entry point (``pyproject.toml``), which Kedro's CLI calls before it loads
any plugin. ``python -m california_housing`` and ``settings.py`` call it too.
"""

import warnings

#: MLflow's warning about a PythonModel whose ``predict`` has no type hints.
UNTYPED_PREDICT = "Add type hints to the `predict` method"


def quiet() -> None:
    """Ignore the library warnings listed here; every other warning still shows."""
    # omegaconf 2.4 deprecates register_new_resolver(), which Kedro's OmegaConfigLoader and
    # kedro-mlflow's hook still call (globals, runtime_params, custom resolvers, km.random_name).
    warnings.filterwarnings(
        "ignore",
        message=r"register_new_resolver\(\) is deprecated",
        category=UserWarning,
        module=r"kedro\.config\.omegaconf_config|kedro_mlflow\.framework\.hooks\.mlflow_hook",
    )
    # The Optuna study dataset turns on heartbeats on purpose (a killed worker's trial is
    # marked FAIL and its place retried); Optuna still marks the argument experimental.
    warnings.filterwarnings(
        "ignore",
        message=r"Argument ``heartbeat_interval`` is an experimental feature",
        module=r"optuna\._experimental",
    )
    _import_kedro_mlflow_models()


def _import_kedro_mlflow_models() -> None:
    """Import kedro-mlflow's model classes without MLflow's warning about them.

    kedro-mlflow's ``KedroPipelineModel`` (loaded with its CLI) is an MLflow ``PythonModel``
    whose ``predict`` has no type hints, and MLflow warns about that when the class is
    defined, under a ``simplefilter("once")`` of its own that no filter of ours can
    override. So the module is imported here with its warnings recorded, and every
    recorded warning but that one is shown as usual. The project defines no PythonModel.
    """
    with warnings.catch_warnings(record=True) as caught:
        import kedro_mlflow.mlflow  # noqa: F401, PLC0415 (imported for this check only)
    for warning in caught:
        if UNTYPED_PREDICT not in str(warning.message):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
