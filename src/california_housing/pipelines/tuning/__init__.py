"""Optuna search of XGBoost hyper-parameters, refit and evaluation of the best."""

from california_housing.pipelines.tuning.pipeline import create_pipeline

__all__ = ["create_pipeline"]
