"""The model zoo trained and evaluated on every data version."""

from california_housing.pipelines.data_science.pipeline import create_pipeline

__all__ = ["create_pipeline"]
