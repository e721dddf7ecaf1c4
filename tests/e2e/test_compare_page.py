"""In a real browser: choosing runs on the compare page, a digit drawn with the mouse through every
model, filters matched or as trained, and the layer similarity heatmap."""

from __future__ import annotations

import re

import pytest

from tests.e2e import support as e2e
from tests.e2e.support import step
from tests.e2e.test_teaching_pages import second_run

e2e.require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_choosing_runs_keeps_them_in_the_address(page, stack, finished_run, shared):
    other = second_run(stack, shared)
    names = {finished_run["name"], other["name"]}
    with step(page, "open the compare page without runs"):
        page.goto("/compare")
        expect(page.get_by_text("Tick at least two runs")).to_be_visible()
    with step(page, "tick two runs in the table"):
        for name in names:
            row = page.locator("#cmp-table .ag-row", has_text=name)
            row.locator("input[type=checkbox]").check()
        expect(page.locator("#cmp-chips")).to_contain_text(finished_run["name"])
        expect(page.locator("#cmp-chips")).to_contain_text(other["name"])
        expect(page.locator("#cmp-preds .lens-cmp-col")).to_have_count(2)
    with step(page, "the address names both, so reloading it shows the same comparison"):
        expect(page).to_have_url(re.compile(r"runs=[0-9a-f]{32},[0-9a-f]{32}"))
        for run_id in (finished_run["id"], other["id"]):
            assert run_id in page.url
        page.goto(page.url)
        expect(page.locator("#cmp-chips .lens-cmp-chip")).to_have_count(2)


def test_a_drawn_digit_goes_through_every_model(page, stack, finished_run, shared):
    other = second_run(stack, shared)
    with step(page, "open the comparison"):
        page.goto(f"/compare?runs={finished_run['id']},{other['id']}")
        preview = page.locator("#cmp-input-preview")
        expect(preview).to_have_attribute("src", re.compile("^data:image/png"))
        before = preview.get_attribute("src")
    with step(page, "draw a 1 with the mouse and use it"):
        canvas = page.locator("#cmp-canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None
        x = box["x"] + box["width"] / 2
        page.mouse.move(x, box["y"] + 20)
        page.mouse.down()
        for k in range(1, 16):
            page.mouse.move(x + k * 0.5, box["y"] + 20 + k * 8)
        page.mouse.up()
        page.locator("#cmp-draw-use").click()
    with step(page, "the converted drawing is the input, and it is in the address"):
        expect(preview).not_to_have_attribute("src", before or "")
        expect(page.locator("#cmp-input-caption")).to_contain_text("your drawing")
        expect(page).to_have_url(re.compile(r"input=px%3A"))
    with step(page, "both models answer it (extraction jobs on the worker)"):
        expect(page.locator("#cmp-preds")).to_contain_text(re.compile(r"predicts.*predicts", re.S))
        expect(page.locator("#cmp-acts .lens-cmp-col .js-plotly-plot")).to_have_count(2)


def test_filters_and_layer_similarity(page, stack, finished_run, shared):
    other = second_run(stack, shared)
    with step(page, "open the comparison"):
        page.goto(f"/compare?runs={finished_run['id']},{other['id']}")
    with step(page, "filters are matched to run A, with their correlation"):
        heads = page.locator("#cmp-filters .lens-cmp-col-head")
        expect(heads).to_have_count(2)
        expect(heads.nth(1)).to_contain_text("mean r")
    with step(page, "as trained, they are shown in their own order"):
        page.get_by_text("as trained").click()
        expect(heads.nth(1)).not_to_contain_text("mean r")
    with step(page, "the CKA jobs finish and the whole test set's heatmap appears"):
        # A first answer on 500 images comes first, then the whole test set's, which replaces it:
        # on a fast machine within a second, too soon for the test to see the first one.
        expect(page.locator("#cmp-cka-caption")).to_contain_text(
            "On all 2000 test images of mnist-sample", timeout=180_000
        )
        expect(page.locator("#cmp-cka .js-plotly-plot")).to_be_visible()
        expect(page.locator("#cmp-stats-summary")).to_contain_text("filters dead")


def test_the_ablation_curve_leads_to_a_filters_page(page, stack, finished_run, shared):
    """The ablation card queues its job by itself, draws one curve per run and names each run's
    most important filters; a filter's number opens that filter's page, whose analysis job runs
    and fills in what the network loses without it."""
    other = second_run(stack, shared)
    with step(page, "open the comparison"):
        page.goto(f"/compare?runs={finished_run['id']},{other['id']}")
    with step(page, "the analysis worker computes both curves"):
        summary = page.locator("#cmp-abl-summary li")
        expect(summary).to_have_count(2, timeout=180_000)
        for i in range(2):
            expect(summary.nth(i)).to_contain_text(re.compile(r"\d+(\.\d)?% as trained"))
        expect(page.locator("#cmp-abl-caption")).to_contain_text("test images of mnist-sample")
        expect(page.locator("#cmp-abl .js-plotly-plot")).to_be_visible()
    with step(page, "a filter's number opens its page"):
        link = summary.nth(0).locator("a").first
        number = link.inner_text()
        link.click()
        expect(page).to_have_url(
            re.compile(rf"/run/{finished_run['id']}/filter/conv2d_\d/{number}$")
        )
        expect(
            page.get_by_role("heading", name=re.compile(rf"Filter #{number} of conv2d_\d"))
        ).to_be_visible()
    with step(page, "the filter's analysis arrives: accuracy with and without it"):
        expect(page.locator("#filter-analysis")).to_contain_text(
            re.compile(r"Test accuracy .+ with it"), timeout=180_000
        )
        expect(page.locator("#filter-analysis")).to_contain_text("Mean activation per class")
