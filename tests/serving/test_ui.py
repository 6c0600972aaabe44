"""The web UI in a real headless browser, against a real `kedro serve --env test`.

The service (``served``, tests/serving/conftest.py) serves the champion of the `project`
fixture (a `kedro run --env test` in a copy of the project, tests/conftest.py). Chromium is
Debian's (`/usr/bin/chromium`), driven by Playwright's Python package; nothing is
downloaded. Each page is saved as a screenshot under the test's tmp_path and checked not to
be blank.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageStat

from california_housing.schema import RAW_FEATURES, raw_schema
from tests.serving.conftest import API_KEY, KEDRO, start_server, wait_ready

pytestmark = pytest.mark.slow

# Debian's chromium (.ci/run installs it); another Chromium build by name or UI_TEST_CHROMIUM
CHROMIUM = os.environ.get("UI_TEST_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))),
    "/usr/bin/chromium",
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "data" / "01_raw" / "examples" / "new_houses.csv"
DECISION = "data/test/08_reporting/monitoring/decision.json"


@pytest.fixture(scope="module")
def service(served) -> str:
    """The base URL of the running service of ``served`` (tests/serving/conftest.py)."""
    return served.url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, through Playwright (no browser download)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run installs it), "
            "or point UI_TEST_CHROMIUM at a Chromium binary."
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page; JavaScript errors in it fail the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, errors


def _screenshot(page, path: Path) -> Path:
    """Save the page; assert it is not blank (many colours, real contrast) and has no trace."""
    page.screenshot(path=str(path), full_page=True)
    image = Image.open(path).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, f"{path.name} looks blank"
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 20, f"{path.name} has no contrast"
    text = page.inner_text("body")
    assert "Traceback" not in text
    assert 'File "' not in text
    return path


def _predict(base: str, rows: list[dict]) -> dict:
    response = httpx.post(f"{base}/predict", json={"rows": rows}, timeout=30)
    response.raise_for_status()
    return response.json()


def _total(base: str) -> int:
    return httpx.get(f"{base}/predictions", params={"limit": 1}, timeout=30).json()["total"]


def _dollars(value: float) -> str:
    return f"${round(value * 100_000):,}"


def test_predict_page_gives_the_price_the_api_gives(service, page, tmp_path):
    row = {
        "MedInc": 8.3252,
        "HouseAge": 41,
        "AveRooms": 6.984127,
        "AveBedrms": 1.02381,
        "Population": 322,
        "AveOccup": 2.555556,
        "Latitude": 37.88,
        "Longitude": -122.23,
    }
    page.goto(f"{service}/ui/")
    for name, value in row.items():
        page.get_by_label(name, exact=True).fill(str(value))
    page.get_by_role("button", name="Predict").click()
    page.wait_for_selector("#price")

    expected = _predict(service, [row])
    assert page.inner_text("#price") == _dollars(
        expected["predictions"][0]["predicted_MedHouseVal"]
    )
    assert page.inner_text("#model-version") == (
        f"{expected['model_name']} version {expected['model_version']}"
    )
    assert page.is_visible("#in-domain")
    _screenshot(page, tmp_path / "predict.png")


def test_predict_page_labels_ranges_and_domain_warning(service, page, tmp_path):
    page.goto(f"{service}/ui/")
    page.wait_for_selector("#predict-form")
    labels = page.locator("#predict-form label").all_inner_texts()
    assert labels == RAW_FEATURES
    # the ranges shown come from the one raw schema
    for name in RAW_FEATURES:
        checks = raw_schema(with_target=False).columns[name].checks
        bounds = [f"{v:g}" for c in checks for v in (c.statistics or {}).values()]
        help_text = page.inner_text(f"#f-{name}-help")
        assert bounds, name
        assert all(f" {bound}" in help_text for bound in bounds), help_text

    page.get_by_label("Longitude", exact=True).fill("-117.5")  # east of the v2/v3 cut
    page.get_by_role("button", name="Predict").click()
    page.wait_for_selector("#in-domain")  # the whole-state champion answers for it
    assert not page.is_visible("#ood-warning")

    page.get_by_label("MedInc", exact=True).fill("25")  # above the schema's 20
    page.get_by_role("button", name="Predict").click()
    error = page.wait_for_selector("#f-MedInc-error:not(:empty)")
    assert "20" in error.inner_text()
    assert not page.is_visible("#price")


def test_predict_page_warns_outside_a_filtered_champions_domain(specialist, page, tmp_path):
    extra = {"SERVING_MODEL_ALIAS": "specialist"}
    with start_server(specialist, tmp_path, extra_env=extra) as server:
        wait_ready(server)
        page.goto(f"{server.url}/ui/")
        page.wait_for_selector("#predict-form")
        page.get_by_label("Longitude", exact=True).fill("-117.5")  # east of the v2/v3 cut
        page.get_by_role("button", name="Predict").click()
        warning = page.wait_for_selector("#ood-warning")
        assert "Longitude" in warning.inner_text()
        assert page.locator("#map-point").get_attribute("fill") == "#cf222e"
        _screenshot(page, tmp_path / "predict_out_of_domain.png")


def test_batch_scores_a_good_csv_and_downloads_it(service, page, tmp_path):
    with EXAMPLES.open(newline="") as handle:
        source = list(csv.DictReader(handle))
    for row in source:  # quoted cells with commas and quotes survive the round trip
        row["id"] = f'{row["id"]}, "Bay Area"'
    good = tmp_path / "new_houses.csv"
    with good.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(source[0]))
        writer.writeheader()
        writer.writerows(source)
    page.goto(f"{service}/ui/batch")
    page.set_input_files("#csv-file", str(good))
    page.wait_for_selector("#download")
    with page.expect_download() as download_info:
        page.click("#download")
    scored_path = tmp_path / "scored.csv"
    download_info.value.save_as(scored_path)

    with scored_path.open(newline="") as handle:
        scored = list(csv.DictReader(handle))
    assert [r["id"] for r in scored] == [r["id"] for r in source]
    expected = _predict(service, [{name: float(r[name]) for name in RAW_FEATURES} for r in source])[
        "predictions"
    ]
    for row, prediction in zip(scored, expected, strict=True):
        assert float(row["predicted_MedHouseVal"]) == pytest.approx(
            prediction["predicted_MedHouseVal"]
        )
        assert row["out_of_domain"] == str(prediction["out_of_domain"]).lower()
        assert row["prediction_id"]
    _screenshot(page, tmp_path / "batch.png")


def test_batch_lists_problems_by_row_and_column_and_scores_nothing(service, page, tmp_path):
    bad = tmp_path / "bad.csv"
    with EXAMPLES.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:4]
    rows[1]["MedInc"] = "abc"
    rows[2]["Latitude"] = "50"
    rows[3]["HouseAge"] = ""
    with bad.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = _total(service)

    page.goto(f"{service}/ui/batch")
    page.set_input_files("#csv-file", str(bad))
    page.wait_for_selector("#problems")

    cells = [
        row.locator("td").all_inner_texts() for row in page.locator("#problems tbody tr").all()
    ]
    assert {(c[0], c[2]) for c in cells} == {("2", "MedInc"), ("3", "Latitude"), ("4", "HouseAge")}
    assert {c[1] for c in cells} == {"3", "4", "5"}  # lines in the file, header is line 1
    assert "Nothing was scored" in page.inner_text("#result")
    assert page.locator("#download").count() == 0
    assert _total(service) == before  # nothing logged either
    _screenshot(page, tmp_path / "batch_invalid.png")


def test_model_page_shows_the_champion_and_the_last_report(service, project, page, tmp_path):
    model = httpx.get(f"{service}/model", timeout=30).json()
    with (project / "data/test/08_reporting/leaderboard.csv").open(newline="") as handle:
        board = list(csv.DictReader(handle))

    page.goto(f"{service}/ui/model")
    page.wait_for_selector("#leaderboard")
    page.wait_for_function(
        "[...document.images].length > 0"
        " && [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.inner_text("#champion-version") == str(model["version"])
    assert page.inner_text("#champion-candidate") == model["candidate"]
    assert page.inner_text("#champion-rmse").startswith(f"{model['population_rmse']:.4f}")
    assert page.locator("#leaderboard tbody tr").count() == len(board)
    champion_row = page.locator("#leaderboard tr.highlight td").all_inner_texts()
    assert champion_row[1] == model["candidate"]
    reporting = project / "data/test/08_reporting"
    figures = [*reporting.glob("comparison_*.png"), *reporting.glob("champion_*.png")]
    assert len(figures) == 5
    assert page.locator("figure img").count() == len(figures)
    assert page.locator("figure img").first.get_attribute("src").endswith("champion_error_map.png")
    _screenshot(page, tmp_path / "model.png")


def test_model_page_marks_the_champions_candidate_when_a_later_run_of_it_is_listed(
    service, project, page
):
    # After a rerun that did not beat it, the champion is an earlier run of a listed candidate.
    model = httpx.get(f"{service}/model", timeout=30).json()
    board = project / "data/test/08_reporting/leaderboard.csv"
    saved = board.read_text()
    rows = list(csv.DictReader(saved.splitlines()))
    for row in rows:
        if row["candidate"] == model["candidate"]:
            row["run_id"] = "f" * 32  # that candidate's later run
    with board.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    try:
        page.goto(f"{service}/ui/model")
        page.wait_for_selector("#leaderboard")
        champion_row = page.locator("#leaderboard tr.highlight td").all_inner_texts()
        note = page.inner_text("#leaderboard-note")
    finally:
        board.write_text(saved)

    assert champion_row[1] == model["candidate"]
    assert f"earlier run of {model['candidate']}" in note
    assert model["run_id"] in note


def test_monitoring_page_shows_predictions_volume_and_no_decision_yet(
    service, project, page, tmp_path
):
    with EXAMPLES.open(newline="") as handle:
        rows = [{name: float(r[name]) for name in RAW_FEATURES} for r in csv.DictReader(handle)]
    _predict(service, rows)
    total = _total(service)
    (project / DECISION).unlink(missing_ok=True)

    page.goto(f"{service}/ui/monitoring")
    notice = page.wait_for_selector("[data-kind=no-decision]")
    assert "kedro run --env test --pipelines monitoring" in notice.inner_text()
    page.wait_for_selector("#predictions")
    page.wait_for_selector("#volume-chart")
    assert page.inner_text("#page-info").endswith(f"of {total}, newest first")
    assert page.locator("#predictions tbody tr").count() == min(total, 20)
    bars = page.locator("#volume-chart rect[data-count]").evaluate_all(
        "bars => bars.map(b => Number(b.dataset.count))"
    )
    assert sum(bars) == total  # every prediction of this test run is within the last 24 h
    _screenshot(page, tmp_path / "monitoring_no_decision.png")


def test_monitoring_page_renders_a_decision(service, project, page, tmp_path):
    path = project / DECISION
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_decision()))
    try:
        page.goto(f"{service}/ui/monitoring")
        page.wait_for_selector("#drift")
        page.wait_for_selector("#volume-chart")
        page.wait_for_selector("#predictions")
        assert page.inner_text("#decision-status") == "Retraining advised"
        assert page.inner_text("#drifted") == "MedInc"
        assert "1 feature(s) drifted" in page.inner_text("#reasons")
        assert page.locator("#drift tr.drifted").count() == 1
        assert "at least 30 needed" in page.inner_text("#live-error")
        _screenshot(page, tmp_path / "monitoring.png")
    finally:
        path.unlink()


@pytest.mark.skipif(
    not (REPO_ROOT / "src/california_housing/pipelines/monitoring").is_dir(),
    reason="the monitoring pipeline is not in this tree",
)
def test_monitoring_page_shows_the_monitoring_pipelines_decision(
    served, project, raw_frame, page, tmp_path
):
    sample = raw_frame.sample(300, random_state=0)
    answer = _predict(served.url, sample[RAW_FEATURES].to_dict(orient="records"))
    feedback = [
        {"prediction_id": p["prediction_id"], "MedHouseVal": float(v)}
        for p, v in zip(answer["predictions"], sample["MedHouseVal"], strict=True)
    ]
    httpx.post(
        f"{served.url}/feedback",
        json={"feedback": feedback},
        headers={"X-API-Key": API_KEY},
        timeout=30,
    ).raise_for_status()
    subprocess.run(
        [KEDRO, "run", "--env", "test", "--pipelines", "monitoring",
         "--params", f"prediction_log_url=sqlite:///{served.db_path}"],
        cwd=project, check=True, capture_output=True,
    )  # fmt: skip
    decision = json.loads((project / DECISION).read_text())
    try:
        page.goto(f"{served.url}/ui/monitoring")
        page.wait_for_selector("#decision-status")
        drifted = [name for name, row in decision["drift"].items() if row["drifted"]]
        assert page.inner_text("#drifted") == (", ".join(drifted) or "none")
        reasons = page.locator("#reasons li").all_inner_texts()
        assert reasons == decision["reasons"]
        assert page.locator("#drift tbody tr").count() == len(decision["drift"])
        if decision["live_error"].get("assessed"):
            assert f"{decision['live_error']['rmse']:.4f}" in page.inner_text("#live-error")
        _screenshot(page, tmp_path / "monitoring_pipeline.png")
    finally:
        (project / DECISION).unlink()


def _decision() -> dict:
    """A decision.json in the monitoring pipeline's format (CONTRACTS: monitoring -> ui)."""
    drift = {
        name: {
            "psi": 0.01, "ks_statistic": 0.02, "ks_pvalue": 0.6, "drifted": False,
            "reference_mean": 1.0, "current_mean": 1.0, "reference_rows": 100,
            "current_rows": 60, "assessed": True,
        }
        for name in [*RAW_FEATURES, "predicted_MedHouseVal"]
    }  # fmt: skip
    drift["MedInc"] |= {"psi": 0.41, "ks_statistic": 0.3, "ks_pvalue": 1e-6, "drifted": True}
    return {
        "retrain": True,
        "status": "retrain",
        "reasons": ["1 feature(s) drifted: MedInc (PSI 0.410, KS 0.300)"],
        "thresholds": {"drift": {"psi": 0.2}, "min_drifted_features": 1, "max_ood_rate": 0.2},
        "drift": drift,
        "live_error": {"model_version": 1, "rows": 3, "min_rows": 30, "assessed": False},
        "ood_rate": 0.05,
        "window": {"since": "2026-01-01T00:00:00+00:00", "until": "2026-01-08T00:00:00+00:00",
                   "rows": 60},
        "created_at": "2026-01-08T00:00:05+00:00",
    }  # fmt: skip


def test_service_down_says_so_and_how_to_start_it(project, page, tmp_path):
    with start_server(project, tmp_path) as server:
        wait_ready(server)
        page.goto(f"{server.url}/ui/")
        page.wait_for_selector("#predict-form")
    # the service is stopped now; the page is still open
    page.get_by_role("button", name="Predict").click()
    notice = page.wait_for_selector("[data-kind=service-down]")
    assert "not running" in notice.inner_text()
    assert "kedro serve --env test --port" in notice.inner_text()
    assert page.inner_text("#status") == "Service not running"
    _screenshot(page, tmp_path / "service_down.png")
