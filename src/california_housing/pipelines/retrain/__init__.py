"""Retrain with the labelled feedback as a new raw source; the promotion gate decides."""

from california_housing.pipelines.retrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
