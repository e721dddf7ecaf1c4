"""The compare page stops waiting when no worker answers, says why, and offers to try again.

Fake succeeded runs as in tests/test_compare.py; the broker is a dead address, so every job the
page waits for stays queued, which is what a machine without workers looks like.
"""

from __future__ import annotations

import time

import pytest

from dashboard.compare import inputs, page_status, wait
from shared import comparison
from tests import test_compare as tc
from tests import test_dashboard as td

dash_app = td.dash_app
store = td.store
pair = tc.pair


@pytest.fixture
def waiting(pair, store):
    """A comparison waiting for an extraction (test image 1 is no probe image) and analyses."""
    a, b = pair
    desc = inputs.test_input("mnist-sample", 1)
    state = tc.status(store, [a, b], desc)
    assert page_status.waiting(state)
    return a, b, desc, state


def test_the_jobs_waited_for_are_named_by_worker(waiting):
    a, b, _, state = waiting
    jobs = wait.pending_jobs(state)
    kinds = {(kind, job_id) for kind, _, job_id in jobs}
    assert ("analysis", comparison.stats_job_id(a)) in kinds
    assert ("analysis", comparison.cka_job_id(a, b)) in kinds
    assert ("analysis", comparison.ablation_job_id(a, "conv2d_1")) in kinds
    assert ("analysis", comparison.ablation_job_id(b, "conv2d_1")) in kinds
    assert sum(kind == "extraction" for kind, _ in kinds) == 2


def test_a_short_wait_says_nothing_then_asks_whether_workers_run(waiting, store):
    *_, state = waiting
    now = time.time()
    quiet = wait.verdict(store, state, now - 5, now, broker_ok=True)
    assert quiet == {"stop": False, "note": "", "why": {}}
    asked = wait.verdict(store, state, now - 30, now, broker_ok=True)
    assert not asked["stop"]
    text = td.texts(asked["note"])
    assert "is an extraction worker running?" in text and "is an analysis worker running?" in text


def test_nothing_started_in_a_minute_stops_and_says_which_worker_is_missing(waiting, store):
    a, b, desc, state = waiting
    now = time.time()
    answer = wait.verdict(store, state, now - 75, now, broker_ok=True)
    assert answer["stop"]
    assert "No extraction worker answered in 75 s" in td.texts(answer["note"])
    assert "analyzer service" in td.texts(answer["note"])
    stopped = wait.stopped(state, answer["why"])
    assert not page_status.waiting(stopped)
    preds = td.texts(tc.callbacks.show_predictions(stopped, [a, b], desc))
    assert "no extraction worker answered" in preds and "Running the input" not in preds
    _, summary = tc.callbacks.show_stats("0", stopped, [a, b])
    assert "no analysis worker answered" in td.texts(summary)
    triggered = [{"prop_id": "cmp-status.data", "value": 1}]
    _, lines, _ = td.with_context(
        triggered, tc.callbacks.show_ablation, "conv2d_1", stopped, None, [a, b]
    )
    assert td.texts(lines).count("no analysis worker answered") == 2


def test_a_running_job_is_waited_for_until_its_time_limit_is_long_past(waiting, store):
    *_, state = waiting
    for _kind, _task, job_id in wait.pending_jobs(state):
        store.create_job("stats", None, {}, job_id)
        store.set_job(job_id, "running")
    now = time.time()
    assert not wait.verdict(store, state, now - 200, now, broker_ok=True)["stop"]
    late = wait.verdict(store, state, now - 400, now, broker_ok=True)
    assert late["stop"] and "the worker may have stopped" in td.texts(late["note"])


def test_an_unreachable_queue_is_named_as_the_cause(waiting, store):
    *_, state = waiting
    now = time.time()
    early = wait.verdict(store, state, now - 30, now, broker_ok=False)
    assert not early["stop"] and "waiting for it to come back" in td.texts(early["note"])
    late = wait.verdict(store, state, now - 90, now, broker_ok=False)
    assert late["stop"] and "task queue offline" in td.texts(late["note"])


def test_the_poll_callback_stops_and_shows_the_retry_button(waiting, store, monkeypatch):
    a, b, desc, state = waiting
    monkeypatch.setattr(tc.callbacks, "broker_ok", lambda: True)
    fresh = tc.callbacks.poll(1, [a, b], desc, "0-1", "conv2d_1", state, time.time())
    assert fresh[1] is False and fresh[3] == wait.RETRY_HIDDEN
    new_state, disabled, note, retry = tc.callbacks.poll(
        1, [a, b], desc, "0-1", "conv2d_1", state, 0.0
    )
    assert disabled is True and retry == wait.RETRY_SHOWN
    assert "stopped waiting" in td.texts(note)
    assert not page_status.waiting(new_state)


def test_try_again_asks_again_and_hides_the_button(waiting, store):
    a, b, desc, _ = waiting
    triggered = [{"prop_id": "cmp-retry.n_clicks", "value": 1}]
    state, done, since, _note, retry = td.with_context(
        triggered, tc.callbacks.ensure, [a, b], desc, "0-1", "conv2d_1", 1
    )
    assert retry == wait.RETRY_HIDDEN
    # No broker here: the page says so for every job instead of polling for nothing.
    assert done and since is None
    assert "task queue is not reachable" in state["stats"][a]
    assert "task queue is not reachable" in state["ablation"][f"{a}:conv2d_1"]
    assert wait.resend_queued(store, {"sources": {}, "stats": {}, "cka": {}})


def test_the_messages_are_translated(waiting, store, dash_app):
    *_, state = waiting
    now = time.time()
    with dash_app.server.test_request_context(headers={"Accept-Language": "es"}):
        answer = wait.verdict(store, state, now - 75, now, broker_ok=True)
    assert "worker de extracción" in td.texts(answer["note"])
