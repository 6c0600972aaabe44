"""Retention: which dataset versions and runs `kedro prune` removes, and what it protects."""

from datetime import UTC, datetime, timedelta

import pytest

from california_housing.retention import (
    Keep,
    plan_dataset_versions,
    remove_dataset_versions,
    saved_at,
    used_version,
    versioned_datasets,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def version(days_ago: float) -> str:
    """A Kedro save version ``days_ago`` days before NOW."""
    at = NOW - timedelta(days=days_ago)
    return at.strftime("%Y-%m-%dT%H.%M.%S.") + f"{at.microsecond // 1000:03d}Z"


@pytest.fixture
def project(tmp_path):
    """data/ with two versioned datasets of five versions each, and an unversioned file."""
    for layer, name in (("05_model_input/v1", "train.parquet"), ("08_reporting", "x.csv")):
        for days in (1, 2, 3, 10, 40):
            folder = tmp_path / "data" / layer / name / version(days)
            folder.mkdir(parents=True)
            (folder / name).write_bytes(b"x" * 100)
    (tmp_path / "data" / "08_reporting" / "report.md").write_text("kept as it is")
    return tmp_path


def test_versioned_datasets_are_found_with_their_versions_oldest_first(project):
    found = versioned_datasets(project / "data")

    assert sorted(p.relative_to(project).as_posix() for p in found) == [
        "data/05_model_input/v1/train.parquet",
        "data/08_reporting/x.csv",
    ]
    versions = next(iter(found.values()))
    assert versions == sorted(versions) and len(versions) == 5
    assert saved_at(versions[-1]) == NOW - timedelta(days=1)


def test_keep_last_or_newer_than_days():
    times = {name: NOW - timedelta(days=days) for name, days in {"a": 1, "b": 5, "c": 9}.items()}

    assert Keep(1).kept(times, NOW) == {"a"}
    assert Keep(1, days=6).kept(times, NOW) == {"a", "b"}
    assert Keep(3, days=0.5).kept(times, NOW) == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"keep_last": 0}, "keep_last must be an integer >= 1"),
        ({"keep_last": 2, "keep_days": "x"}, "keep_days"),
    ],
)
def test_a_bad_rule_is_named(settings, message):
    with pytest.raises(ValueError, match=f"retention.runs.{message}"):
        Keep.parse("runs", settings)


def test_a_session_uses_the_newest_version_saved_no_later_than_itself():
    versions = [version(d) for d in (40, 10, 3)]

    assert used_version(versions, version(5)) == version(10)
    assert used_version(versions, version(3)) == version(3)
    assert used_version(versions, version(50)) is None


def test_the_plan_keeps_the_newest_per_layer_and_what_a_registered_model_used(project):
    policy = {"default": {"keep_last": 2}, "08_reporting": {"keep_last": 1, "keep_days": 2.5}}
    champion_session = version(20)  # trained 20 days ago: used the 40-day-old version

    removals = plan_dataset_versions(
        project / "data", policy, [champion_session], now=NOW, project=project
    )

    removed = {r.name for r in removals}
    model_input = "data/05_model_input/v1/train.parquet"
    assert {n for n in removed if n.startswith(model_input)} == {
        f"{model_input}/{version(d)}" for d in (3, 10)
    }
    reporting = "data/08_reporting/x.csv"
    assert {n for n in removed if n.startswith(reporting)} == {
        f"{reporting}/{version(d)}"
        for d in (3, 10)  # 1 and 2 days: newer than 2.5 days
    }
    assert all(r.kind == "dataset version" and r.bytes == 100 for r in removals)


def test_removing_deletes_exactly_the_listed_versions(project):
    removals = plan_dataset_versions(
        project / "data", {"default": {"keep_last": 1}}, [], now=NOW, project=project
    )

    remove_dataset_versions(removals, project)

    left = versioned_datasets(project / "data")
    assert [len(versions) for versions in left.values()] == [1, 1]
    assert all(not (project / r.name).exists() for r in removals)
    assert (project / "data" / "08_reporting" / "report.md").read_text() == "kept as it is"
