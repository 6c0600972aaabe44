"""Custom Kedro datasets: the one place for custom I/O."""

from california_housing.datasets.california_housing_dataset import CaliforniaHousingDataset

__all__ = ["CaliforniaHousingDataset"]
