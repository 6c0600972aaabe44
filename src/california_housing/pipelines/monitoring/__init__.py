"""Drift and live error of the served champion, from the prediction log; a retrain decision."""

from california_housing.pipelines.monitoring.pipeline import create_pipeline

__all__ = ["create_pipeline"]
