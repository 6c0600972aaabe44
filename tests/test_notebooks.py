"""The notebooks run top to bottom, headless, against a project filled by `kedro run --env test`.

The notebook is copied into ``<project>/notebooks/`` of the ``project`` fixture (conftest.py)
and executed there with nbclient, so ``%load_ext kedro.ipython`` finds that project. The
kernel inherits ``KEDRO_ENV=test`` from this process and therefore uses the test
environment. Cells are found by their ``id`` (set in the notebook), outputs by their text.
"""

import re
import shutil
import sys
from pathlib import Path

import mlflow
import nbclient
import nbformat
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Needs the `project` fixture (a full run) and starts a Jupyter kernel.
pytestmark = pytest.mark.slow
NOTEBOOK = REPO_ROOT / "notebooks" / "explore_versions_and_leaderboard.ipynb"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")
# Appended to the in-memory copy only: which interpreter did the kernel run on?
PROBE = "import sys\nprint('kernel prefix:', sys.prefix)"


@pytest.fixture(scope="module")
def executed(project):
    """The notebook after a full run in the test environment (raises on any cell error)."""
    notebooks = project / "notebooks"
    notebooks.mkdir(exist_ok=True)
    path = Path(shutil.copy(NOTEBOOK, notebooks))
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE, id="kernel-probe"))
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebooks)}},
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEDRO_ENV", "test")  # the kernel inherits this process's environment
        client.execute()
    return nb


def _cell(nb, cell_id: str):
    return next(cell for cell in nb.cells if cell.get("id") == cell_id)


def _text(nb, cell_id: str, mime: str = "text/plain") -> str:
    """Everything a cell printed or displayed as ``mime`` (plus stdout), without ANSI codes."""
    parts = []
    for output in _cell(nb, cell_id).outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in {"execute_result", "display_data"}:
            parts.append(output.data.get(mime, ""))
    return ANSI_ESCAPE.sub("", "\n".join(parts))


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "data/test" not in NOTEBOOK.read_text()  # datasets come from the catalog


def test_notebook_runs_without_errors_in_the_venv_kernel(executed):
    errors = [
        output
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    assert f"kernel prefix: {sys.prefix}" in _text(executed, "kernel-probe")


def test_notebook_uses_the_test_environment(executed):
    assert "'test'" in _text(executed, "env")
    assert "california-housing-test" in _text(executed, "globals")


def test_shapes_table_and_common_holdout(executed):
    shapes = _text(executed, "versions", "text/html")
    assert "<td>20640</td>" in shapes
    assert shapes.count("<td>9261</td>") == 2
    assert "<td>13</td>" in shapes
    features = _text(executed, "features", "text/html")
    for name in ("rooms_per_household", "bedrooms_ratio", "population_density"):
        assert name in features
    holdout = _text(executed, "holdout")
    assert "common holdout: 1,820 rows" in holdout
    assert "v3 test ids are a subset of v1 test ids: True" in holdout


def test_target_plot_shows_the_cap_removed(executed):
    assert "{'v1': 965, 'v2': 0}" in _text(executed, "target")
    images = [o for o in _cell(executed, "target").outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1


def test_leaderboard_report_and_champion(executed, project):
    leaderboard = pd.read_csv(project / "data/test/08_reporting/leaderboard.csv")
    winner = leaderboard.iloc[0]
    assert winner["candidate"] in _text(executed, "leaderboard", "text/html")
    report = _text(executed, "report", "text/markdown")
    assert "# California Housing: model report" in report
    registry = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    champion = registry.get_model_version_by_alias("california-housing-test", "champion")
    # the champion is chosen on the served population, the leaderboard ranks on the common
    # holdout: the report names the registry's champion, whichever row of the leaderboard it is
    assert f"(run `{champion.run_id}`)" in report or f"run `{champion.run_id}`" in report
    assert (
        f"champion: california-housing-test version {champion.version} (run {champion.run_id})"
        in _text(executed, "champion")
    )
    predictions = _text(executed, "predict", "text/html")
    assert "predicted" in predictions
    assert "actual" in predictions
