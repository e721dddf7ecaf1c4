"""The browser tests' own helpers, without a browser: a failed step names itself and leaves a
screenshot."""

from __future__ import annotations

import pytest

from tests.e2e import support as e2e


class FakePage:
    def __init__(self):
        self.shots: list[str] = []

    def screenshot(self, path: str, full_page: bool = False) -> None:
        self.shots.append(path)


def test_a_failed_step_says_which_and_saves_a_screenshot(monkeypatch, tmp_path):
    monkeypatch.setattr(e2e, "OUT", tmp_path)
    monkeypatch.setattr(e2e, "ROOT", tmp_path.parent)
    page = FakePage()
    failed = r"^step 'open the run' failed: no such run"
    with pytest.raises(e2e.StepFailed, match=failed), e2e.step(page, "open the run"):
        raise ValueError("no such run")
    assert page.shots == [
        str(
            tmp_path
            / "test-a-failed-step-says-which-and-saves-a-screenshot-open-the-run-FAILED.png"
        )
    ]
    with e2e.step(page, "fine"):
        pass
    assert len(page.shots) == 1


def test_dash_ids_and_update_filter():
    assert e2e.dash_id(type="run-probe", index=3) == """[id='{"index":3,"type":"run-probe"}']"""

    class Request:
        post_data = '{"output":"..new-config.data...new-layers.children.."}'

    class Response:
        url = "http://x/_dash-update-component"
        request = Request()

    assert e2e.is_dash_update(Response(), "new-config")
    assert not e2e.is_dash_update(Response(), "run-live")

    class PreviewRequest:  # reads new-config as an input: not the update a test waits for
        post_data = '{"output":"..new-preview.children..","inputs":[{"id":"new-config"}]}'

    Response.request = PreviewRequest()
    assert not e2e.is_dash_update(Response(), "new-config")
