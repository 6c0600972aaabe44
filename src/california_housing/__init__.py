"""California Housing: a complete MLOps loop with Kedro, MLflow and Optuna."""

__version__ = "0.1.0"
