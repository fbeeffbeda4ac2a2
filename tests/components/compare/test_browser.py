"""The comparison report opened in real headless Chromium: renders, plots present, no errors."""

import pytest

from pipeline import models
from pipeline.config import load_config
from tests.components.compare import chromium
from tests.pipeline import evaluation_fixtures as fx

pytestmark = pytest.mark.integration

PLOTS = ("roc", "precision-recall", "calibration", "slice-auc")
EXPRESSIONS = {
    "title": "document.title",
    "verdict": "document.querySelector('.verdict').textContent",
    "plots": "[...document.querySelectorAll('svg.plot')].map(s => s.dataset.plot)",
    "drawn": "[...document.querySelectorAll('svg.plot')].every(s => s.getBoundingClientRect().width > 100"
    " && s.querySelectorAll('polyline, rect[fill]').length > 0)",
    "curves": "document.querySelectorAll('svg[data-plot=roc] polyline').length",
    "resources": "performance.getEntriesByType('resource').length",
    "text": "document.body.innerText",
    "facts": "Object.fromEntries([...document.querySelectorAll('dt')].map(d => [d.textContent,"
    " d.nextElementSibling.textContent]))",
}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not chromium.available():
        pytest.fail("chromium is not installed; install it with: apt-get install -y chromium")
    instance = chromium.Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data = models.EvalData(str(fx.write_examples(root / "examples", rows=600) / "*"), span="2026-10")
    candidate = str(fx.save_model(root / "candidate", **fx.WRONG_ON_MOBILE))
    baseline = str(fx.save_model(root / "baseline", **fx.BROKEN_FEATURE))
    config = load_config().with_overrides(
        dataset={"slices": [["device_type"], ["device_type", "slot_position"]]},
        evaluation={"slice_thresholds": [{"slice": ["device_type"], "max_auc_drop": 0.002}]},
    )
    return models.make_report(config, candidate, baseline, data, str(root / "out"))


def test_report_renders_offline_with_every_plot_and_no_console_errors(browser, report, tmp_path):
    screenshot = tmp_path / "report.png"

    visit = browser.visit(f"file://{report}", EXPRESSIONS, screenshot=screenshot)

    assert visit.errors == []
    assert visit.values["title"] == "clickpipe: model comparison"
    assert visit.values["verdict"] == "NOT BLESSED"
    assert sorted(visit.values["plots"]) == sorted(PLOTS)
    assert visit.values["drawn"] is True
    assert visit.values["curves"] == 2  # candidate and production
    assert visit.values["resources"] == 0  # self-contained: nothing else was loaded
    text = visit.values["text"]
    assert "auc on device_type=mobile" in text
    facts = visit.values["facts"]
    assert facts["span"] == "2026-10"
    assert facts["evaluated rows"] == "600"
    assert facts["production model"] != "" and "first run" not in facts["production model"]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000


def test_the_browser_check_catches_errors(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        "<script>console.error('boom')</script><script>undefinedFunction()</script></body></html>"
    )

    visit = browser.visit(f"file://{page}", {"title": "document.title"})

    assert any("boom" in error for error in visit.errors)
    assert any("exception" in error for error in visit.errors)
