"""`kedro viz build` shows the catalog's layers: the layer graph has no cycle.

kedro-viz drops every layer (and logs a warning) when the layers of the datasets do not
form an acyclic order, e.g. a ``models`` dataset written after a ``reporting`` one that
feeds back into ``models``. The build runs in a copy of the project.
"""

import json

import pytest

from tests.conftest import copy_project, kedro_cli

#: The layers of conf/base/catalog.yml, in the order data flows through them.
LAYERS = ["raw", "intermediate", "primary", "model_input", "models", "model_output", "reporting"]

pytestmark = pytest.mark.slow  # starts kedro and builds the site: ~10 s


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of the project after `kedro viz build`, and what the command printed."""
    root = copy_project(tmp_path_factory.mktemp("viz"))
    result = kedro_cli(root, "viz", "build", timeout=300)
    return root, result.stdout + result.stderr


def test_viz_build_finds_no_circular_layers(built):
    _, output = built

    assert "circular dependency" not in output


def test_the_default_pipeline_shows_every_layer_in_flow_order(built):
    root, _ = built

    default = json.loads((root / "build" / "api" / "pipelines" / "__default__").read_text())

    assert default["layers"] == LAYERS


def test_every_pipeline_has_layers(built):
    root, _ = built

    for path in sorted((root / "build" / "api" / "pipelines").iterdir()):
        assert json.loads(path.read_text())["layers"], path.name
