"""Fixtures for the browser tests: the running stack, one Chromium, a fresh page per test.

Every test ends with a screenshot test-output/e2e/<test>-final.png; a failed step leaves
<test>-<step>-FAILED.png beside it. A page that got a 5xx answer or a JavaScript error fails
its test at teardown.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import support as e2e

TINY = {"train_limit": 1500, "epochs": 2}  # trains in a few seconds on two busy cores


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    e2e.require_browser()
    running = e2e.Stack(tmp_path_factory.mktemp("e2e-data"))
    try:
        running.start()
    except BaseException:
        running.stop()
        raise
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    e2e.require_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a busy two-core machine draws Plotly slowly
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(e2e.CHROMIUM), args=e2e.CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page(browser, stack):
    with e2e.watched_tab(browser, stack.url) as tab:
        yield tab


@pytest.fixture(scope="session")
def shared() -> dict[str, Any]:
    """What one test leaves for the next: the run made through the form, its variant."""
    return {}


@pytest.fixture
def finished_run(stack, shared) -> dict[str, Any]:
    """A succeeded run: the one the form test made, or a tiny one made through the API."""
    if "run" not in shared:
        made = stack.api("POST", "/runs", json={"name": "e2e api run", **TINY})
        shared["run"] = {"id": made["id"], "name": made["name"]}
    return stack.wait_for_run(shared["run"]["id"])
