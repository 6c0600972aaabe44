"""The monitoring reports: Markdown and HTML from the same values, every value escaped."""

import re

import pandas as pd
from markupsafe import escape
from matplotlib.figure import Figure

from california_housing.pipelines.monitoring.report import render_html, write_report
from tests.pipelines.monitoring.test_nodes import _decide, _window

DRIFTED = _decide(_window(n=400, shift=2.0, error=1.0))


def _drift(decision):
    return pd.DataFrame.from_dict(decision["drift"], orient="index").rename_axis("feature")


def _figures():
    return {name: Figure(figsize=(2, 2)) for name in ("distributions.png", "drift_scores.png",
                                                      "live_error.png")}  # fmt: skip


def test_both_reports_say_the_same_decision_reasons_and_drift():
    markdown = write_report(DRIFTED, _drift(DRIFTED))
    page, images = render_html(DRIFTED, _drift(DRIFTED), _figures())

    assert "**Retrain advised.** `retrain: true`" in markdown
    assert "<strong>Retrain advised.</strong> <code>retrain: true</code>" in page
    for reason in DRIFTED["reasons"]:
        assert f"- {reason}" in markdown
        assert f"<li>{escape(reason)}</li>" in page
    assert "| MedInc |" in markdown and "**yes** |" in markdown
    assert re.search(r"<td>MedInc</td>.*<td class=\"drifted\">yes</td>", page)
    live = DRIFTED["live_error"]
    assert f"RMSE {live['rmse']:.4f}, MAE" in markdown and f"RMSE {live['rmse']:.4f}, MAE" in page
    assert sorted(images) == ["distributions.png", "drift_scores.png", "live_error.png"]
    assert page.count("data:image/png;base64,") == 3 and "http" not in page
    assert "](figures/live_error.png)" in markdown


def test_values_are_escaped_in_the_html_page():
    decision = DRIFTED | {"reasons": ["<script>alert(1)</script> drifted"]}

    page, _ = render_html(decision, _drift(decision), _figures())

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; drifted" in page


def test_a_window_too_small_for_live_error_says_so_in_both():
    decision = _decide(_window(n=30))
    assert not decision["live_error"]["assessed"]

    markdown = write_report(decision, _drift(decision))
    page, _ = render_html(decision, _drift(decision), _figures())

    for text in (markdown, page):
        assert "Not claimed: 15 rows with feedback at test places" in text
        assert "not assessed (30 rows)" in text
