"""Custom Kedro datasets: the one place for custom I/O."""

from california_housing.datasets.california_housing_dataset import CaliforniaHousingDataset
from california_housing.datasets.candidate_datasets import (
    CandidateArtifactDataset,
    CandidateMetricsDataset,
)
from california_housing.datasets.champion_reference import ChampionSplitsDataset
from california_housing.datasets.mlflow_datasets import (
    MlflowCandidateRunsDataset,
    MlflowChampionDataset,
)
from california_housing.datasets.mlflow_input import MlflowInputDataset
from california_housing.datasets.monitoring_run import MlflowMonitoringRunDataset
from california_housing.datasets.optuna_datasets import (
    OptunaStudyDataset,
    OptunaTrialRunsDataset,
)
from california_housing.datasets.prediction_log import PredictionLogDataset

__all__ = [
    "CaliforniaHousingDataset",
    "CandidateArtifactDataset",
    "CandidateMetricsDataset",
    "ChampionSplitsDataset",
    "MlflowCandidateRunsDataset",
    "MlflowChampionDataset",
    "MlflowInputDataset",
    "MlflowMonitoringRunDataset",
    "OptunaStudyDataset",
    "OptunaTrialRunsDataset",
    "PredictionLogDataset",
]
