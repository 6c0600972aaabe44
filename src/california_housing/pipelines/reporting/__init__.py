"""Compare every candidate, report, and promote the champion in the registry."""

from california_housing.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
