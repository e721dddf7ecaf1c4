"""A job's progress as worker/progress.py writes it to the store: throttled, never backwards, the
end written once anything was, nothing at all for a job shorter than FIRST seconds; and as
GET /api/jobs/{id} answers it. No TensorFlow: the fractions are fed by hand on a fake clock."""

from __future__ import annotations

import pytest

from shared.config import parse_config
from shared.settings import Settings
from shared.store import RunStore
from worker.progress import EVERY, FIRST, JobProgress, part


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def job(tmp_path):
    store = RunStore(
        Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/s")
    ).init()
    run_id = store.create_run(*parse_config({}))["id"]
    job_id = store.create_job("filter", run_id, {"run_id": run_id})
    store.start_job(job_id, 3)
    yield store, job_id
    store.engine.dispose()


def test_a_long_job_writes_about_twice_a_second_and_reaches_the_end(job):
    store, job_id = job
    clock = Clock()
    progress = JobProgress(store, job_id, clock=clock)
    writes: list[float] = []
    real = store.job_progress
    store.job_progress = lambda j, f: writes.append(f) or real(j, f)  # type: ignore[method-assign]
    progress(0.1)  # within the first FIRST seconds: nothing
    assert writes == [] and store.get_job(job_id)["progress"] is None
    for step in range(1, 41):  # 4 s of work reported every 0.1 s
        clock.now += 0.1
        progress(step / 50)
    assert 4 <= len(writes) <= (4.0 - FIRST) / EVERY + 1
    assert writes == sorted(writes) and store.get_job(job_id)["progress"] == writes[-1]
    progress(0.2)  # a step that reports less does not move it back
    clock.now += 1
    progress(0.3)
    assert store.get_job(job_id)["progress"] == writes[-1] == pytest.approx(0.8)
    progress(1.0)  # the end is written at once, throttle or not
    assert writes[-1] == 1.0 and store.get_job(job_id)["progress"] == 1.0


def test_a_short_job_writes_nothing(job):
    store, job_id = job
    clock = Clock()
    progress = JobProgress(store, job_id, clock=clock)
    for step in range(10):
        clock.now += FIRST / 20
        progress(step / 10)
    progress(1.0)
    assert store.get_job(job_id)["progress"] is None


def test_a_finished_or_requeued_job_keeps_no_progress(job):
    store, job_id = job
    progress = JobProgress(store, job_id, every=0, first=0)
    progress(0.5)
    assert store.get_job(job_id)["progress"] == 0.5
    store.set_job(job_id, "queued")  # asked for again: starts from nothing
    assert store.get_job(job_id)["progress"] is None
    store.set_job(job_id, "failed", error="x")
    progress(0.9)  # not running: the store refuses it
    assert store.get_job(job_id)["progress"] is None


def test_parts_map_a_step_onto_its_share_of_the_whole():
    seen: list[float] = []
    step = part(seen.append, 0.3, 0.8)
    for fraction in (-1, 0, 0.5, 1, 2):
        step(fraction)
    assert seen == pytest.approx([0.3, 0.3, 0.55, 0.8, 0.8])
