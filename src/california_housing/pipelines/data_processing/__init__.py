"""Fetch, validate and split the raw data, then build every data version."""

from california_housing.pipelines.data_processing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
