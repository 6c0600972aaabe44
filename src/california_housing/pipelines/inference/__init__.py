"""Batch scoring of new rows with the registry's champion."""

from california_housing.pipelines.inference.pipeline import create_pipeline

__all__ = ["create_pipeline"]
