"""In a real browser: a run from the form to its results, a one-click variant, the report.

The tests share the run the first one creates (the `shared` fixture); run alone, a test makes
its own tiny run through the API instead.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.e2e import support as e2e
from tests.e2e.support import step

e2e.require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

RUN_URL = re.compile(r"/run/([0-9a-f]{32})$")
PROGRESS_JS = """() => {
    const live = document.querySelector('#run-live');
    const bar = live && live.querySelector('.progress-bar');
    const text = live && live.querySelector('.fw-semibold');
    return {
        value: bar ? Number(bar.getAttribute('aria-valuenow')) : null,
        text: text ? text.textContent : null,
        done: !!(live && live.querySelector('.lens-stats')),
    };
}"""
IMAGE_JS = """(selector) => {
    const img = document.querySelector(selector + ' image');
    if (!img) { return null; }
    return img.getAttribute('href') || img.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
}"""


def watch_progress(page: Any, timeout: float = 120) -> tuple[list[dict], bool]:
    """Sample the live panel until the summary replaces it: the distinct (value, text) states."""
    states: list[dict] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = page.evaluate(PROGRESS_JS)
        if now["done"]:
            return states, True
        if now["value"] is not None and (not states or now != states[-1]):
            states.append(now)
        page.wait_for_timeout(150)
    return states, False


def test_new_run_form_trains_with_live_progress(page, stack, shared):
    with step(page, "open the new run form"):
        page.goto("/new")
        expect(page.get_by_role("heading", name="New run")).to_be_visible()
    with step(page, "fill in a tiny run"):
        for field, value in (("name", "e2e form run"), ("train_limit", "1500"), ("epochs", "2")):
            box = page.locator(e2e.dash_id(type="new-field", field=field))
            with page.expect_response(lambda r: e2e.is_dash_update(r, "new-config")):
                box.fill(value)
                box.press("Tab")
        expect(page.locator("#new-submit")).to_be_enabled()
    with step(page, "start it and land on the run page"):
        page.locator("#new-submit").click()
        page.wait_for_url(RUN_URL)
        match = RUN_URL.search(page.url)
        assert match
        run_id = match.group(1)
        shared["run"] = {"id": run_id, "name": "e2e form run"}
        expect(page.locator("h2.lens-title")).to_have_text("e2e form run")
        config = stack.api("GET", f"/runs/{run_id}")["config"]
        assert (config["train_limit"], config["epochs"]) == (1500, 2), config
    with step(page, "watch the progress bar advance"):
        states, finished = watch_progress(page)
        assert finished, f"the run did not finish; progress seen: {states}"
        values = [s["value"] for s in states]
        assert values == sorted(values), f"the bar went backwards: {states}"
        texts = {s["text"] for s in states}
        assert len(states) >= 2 and (values[-1] > values[0] or len(texts) > 1), states
    with step(page, "see the results of the finished run"):
        expect(page.locator("#run-live .lens-stats")).to_contain_text("Test accuracy")
        expect(page.locator("#run-status-badge")).to_contain_text("succeeded")


def test_finished_run_shows_filters_and_feature_maps(page, finished_run):
    run_id = finished_run["id"]
    with step(page, "open the run"):
        page.goto(f"/run/{run_id}")
        expect(page.locator("#run-filters")).to_be_visible()
    with step(page, "the filters grid is drawn"):
        expect(page.locator("#run-filters image")).to_have_count(1)
        expect(page.locator("#run-filters text", has_text="#15")).to_have_count(1)
        png = page.locator('#run-filters .modebar-btn[data-title^="Download plot"]')
        expect(png).to_have_count(1)
    with step(page, "a probe thumbnail changes the feature maps"):
        page.wait_for_function(IMAGE_JS, arg="#run-act")
        before = page.evaluate(IMAGE_JS, "#run-act")
        thumb = page.locator(e2e.dash_id(type="run-probe", index=3))
        thumb.click()
        expect(thumb).to_have_class(re.compile(r"\bselected\b"))
        page.wait_for_function(
            "([sel, before]) => { const f = " + IMAGE_JS + "; const now = f(sel);"
            " return now && now !== before; }",
            arg=["#run-act", before],
        )
        expect(page.locator("#run-act-caption")).to_contain_text("feature maps")
        expect(page.locator("#run-act-caption a.lens-term").first).to_be_visible()
    with step(page, "another layer shows its own maps"):
        page.locator("#run-act-layer").select_option("maxpool2d_1")
        expect(page.locator("#run-act-caption")).to_contain_text("Pooling")


def test_one_click_variant_creates_a_new_run(page, stack, finished_run, shared):
    run_id, name = finished_run["id"], finished_run["name"]
    with step(page, "open the run and click a variant"):
        page.goto(f"/run/{run_id}")
        page.get_by_role("button", name="tanh", exact=True).click()
        page.wait_for_url(lambda url: bool(RUN_URL.search(url)) and run_id not in url)
    match = RUN_URL.search(page.url)
    assert match
    new_id = match.group(1)
    shared["variant"] = {"id": new_id, "name": f"{name} · tanh"}
    with step(page, "the new run is the original with one change"):
        expect(page.locator("h2.lens-title")).to_have_text(f"{name} · tanh")
        expect(page.locator(".lens-toast")).to_contain_text("tanh")
        link = page.locator("#run-compare-parent")
        expect(link).to_have_attribute("href", f"/compare?runs={run_id},{new_id}")
        config = stack.api("GET", f"/runs/{new_id}")["config"]
        convs = [layer for layer in config["layers"] if layer["type"] == "conv2d"]
        assert {c["activation"] for c in convs} == {"tanh"}
        assert config["layers"][-1]["activation"] == "softmax"


def test_report_page_prints(page, finished_run):
    run_id = finished_run["id"]
    with step(page, "open the report from the run page"):
        page.goto(f"/run/{run_id}")
        page.locator("#run-downloads").get_by_role("button", name="Download").click()
        page.get_by_role("link", name="Printable report").click()
        page.wait_for_url(re.compile(rf"/run/{run_id}/report$"))
        expect(page.get_by_role("heading", name=re.compile("^Report:"))).to_be_visible()
    with step(page, "every section is drawn"):
        for title in ("Model and settings", "Training curves", "Confusion matrix", "Filters"):
            expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        for layer in ("conv2d_1", "conv2d_2"):
            expect(page.locator(f"#report-filters-{layer} image")).to_have_count(1)
        expect(page.locator("[id^='report-act-'] .main-svg").first).to_be_attached()
        expect(page.locator("[id^='report-act-']")).to_have_count(5)
    with step(page, "the print button opens the print dialog"):
        page.evaluate("() => { window.__printed = 0; window.print = () => window.__printed++; }")
        page.get_by_role("button", name="Print / save as PDF").click()
        page.wait_for_function("() => window.__printed === 1")
    with step(page, "printed, the report has no navbar or buttons"):
        page.emulate_media(media="print")
        expect(page.locator(".lens-navbar")).to_be_hidden()
        expect(page.get_by_role("button", name="Print / save as PDF")).to_be_hidden()
        e2e.screenshot(page, "print")
        page.pdf(path=str(e2e.OUT / "report.pdf"), format="A4", print_background=True)
        page.emulate_media(media="screen")
