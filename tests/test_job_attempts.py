"""Job attempts, lost jobs and lease-guarded run endings in the store, on SQLite and PostgreSQL.

Jobs (extract, stats, cka) count the deliveries that started them and fail after
CNNLENS_JOB_MAX_ATTEMPTS; a job left `running` past its time limit is put back or failed by the
recovery sweep (migration 0004). A run ends only under the lease of the worker ending it.
"""

from __future__ import annotations

import time

from sqlalchemy import inspect

from shared import db, migrate
from shared.config import parse_config
from shared.settings import Settings
from shared.store import RunStore
from tests import test_store_backends as backends
from worker.recovery import LOST_JOB_MARGIN, sweep_jobs

# The fixtures of tests/test_store_backends.py: every test runs on SQLite and on PostgreSQL.
store, empty_url = backends.store, backends.empty_url
pg_database, pg_store_url = backends.pg_database, backends.pg_store_url

LIMITS = {"extract": 120.0, "stats": 300.0, "cka": 300.0}


def new_job(store: RunStore, kind: str = "stats") -> tuple[str, str]:
    run = store.create_run(*parse_config({}))
    return run["id"], store.create_job(kind, run["id"], {"run_id": run["id"]})


# --- attempts ------------------------------------------------------------------------------
def test_each_start_counts_and_the_one_past_the_limit_fails_with_a_sentence(store):
    _, job_id = new_job(store)
    for attempt in (1, 2):  # the first delivery, then the one re-queued after its process died
        job = store.start_job(job_id, max_attempts=2)
        assert (job["status"], job["attempts"]) == ("running", attempt)
        assert job["started_at"] and job["error"] is None
    job = store.start_job(job_id, max_attempts=2)
    assert job["status"] == "failed" and job["finished_at"]
    assert "started 2 times" in job["error"] and "stopped each time" in job["error"]
    # A late copy of the message finds the job finished and leaves it be.
    assert store.start_job(job_id, max_attempts=2) == job


def test_asking_again_starts_a_fresh_count(store):
    _, job_id = new_job(store)
    for _ in range(3):
        store.start_job(job_id, max_attempts=2)
    assert store.get_job(job_id)["status"] == "failed"
    store.set_job(job_id, "queued")  # the compare page's Try again, or the API asked again
    job = store.get_job(job_id)
    assert (job["status"], job["attempts"], job["started_at"], job["error"]) == (
        "queued",
        0,
        None,
        None,
    )
    assert store.start_job(job_id, max_attempts=2)["status"] == "running"


def test_finished_and_unknown_jobs_are_not_started(store):
    _, job_id = new_job(store)
    store.set_job(job_id, "succeeded", result={"ok": 1})
    job = store.start_job(job_id, max_attempts=3)
    assert job["status"] == "succeeded" and job["attempts"] == 0
    assert store.start_job("f" * 32, max_attempts=3) is None


# --- lost jobs and the sweep ---------------------------------------------------------------
def test_a_running_job_past_its_limit_is_sent_again_with_its_attempts_kept(store):
    _, stats = new_job(store, "stats")
    _, extract = new_job(store, "extract")
    store.start_job(stats, 3)
    store.start_job(extract, 3)
    started = store.get_job(stats)["started_at"]
    sent: list[tuple[str, str]] = []

    def sweep_at(seconds_later: float) -> list[str]:
        return sweep_jobs(store, lambda *m: sent.append(m), LIMITS, now=started + seconds_later)

    assert sweep_at(120 + LOST_JOB_MARGIN - 1) == []  # within every limit: still at work
    assert sweep_at(120 + LOST_JOB_MARGIN + 1) == [extract]  # past extraction's 120 s
    assert sweep_at(300 + LOST_JOB_MARGIN + 1) == [stats]  # past analysis's 300 s
    assert sent == [("cnnlens.extract", extract), ("cnnlens.stats", stats)]
    job = store.get_job(stats)
    assert (job["status"], job["attempts"], job["error"]) == ("queued", 1, None)
    # The message sent again starts attempt 2.
    assert store.start_job(stats, 3)["attempts"] == 2


def test_a_lost_job_started_too_often_fails_instead(store):
    _, job_id = new_job(store, "cka")
    for _ in range(3):
        store.start_job(job_id, 3)
    job = store.get_job(job_id)
    sent: list = []
    assert sweep_jobs(store, lambda *m: sent.append(m), LIMITS, now=job["started_at"] + 1e4) == []
    job = store.get_job(job_id)
    assert sent == [] and job["status"] == "failed" and "started 3 times" in job["error"]


def test_a_lost_job_started_again_meanwhile_is_left_alone(store):
    _, job_id = new_job(store)
    store.start_job(job_id, 3)
    (lost,) = store.lost_jobs(LIMITS, now=time.time() + 1e4)
    store.start_job(job_id, 3)  # a redelivery started it between the sweep's read and write
    assert not store.settle_lost_job(lost, "queued")
    assert store.get_job(job_id)["status"] == "running"


# --- run endings under a lease -------------------------------------------------------------
def test_a_worker_whose_lease_was_taken_cannot_end_the_run(store):
    run = store.create_run(*parse_config({}))
    assert store.claim(run["id"], "w/1/a", 60)
    store.update_fields(run["id"], lease_expires=0.0)  # its worker went quiet
    assert store.claim(run["id"], "w/2/b", 60)
    for status in ("failed", "succeeded", "cancelled"):
        assert not store.finish(run["id"], status, error="late", owner="w/1/a")
    row = store.get_run(run["id"])
    assert (row["status"], row["error"]) == ("running", None)
    assert store.finish(run["id"], "succeeded", owner="w/2/b", test_accuracy=0.9)
    assert store.get_run(run["id"])["status"] == "succeeded"


# --- migration -----------------------------------------------------------------------------
def test_upgrade_from_0003_keeps_jobs_and_counts_from_zero(empty_url, tmp_path):
    migrate.upgrade(empty_url, "0003")
    engine = db.make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO jobs (id, kind, run_id, status, params, created_at) "
                f"VALUES ('{'c' * 32}', 'stats', NULL, 'running', '{{}}', 1.0)"
            )
        runs = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=str(tmp_path)), engine=engine)
        runs.init()
        assert migrate.current_revision(engine) == migrate.head_revision()
        columns = {c["name"] for c in inspect(engine).get_columns("jobs")}
        assert {"attempts", "started_at"} <= columns
        job = runs.get_job("c" * 32)
        assert (job["attempts"], job["started_at"]) == (0, None)
        # Left running before the upgrade: found lost by its creation time.
        assert [j["id"] for j in runs.lost_jobs(LIMITS)] == ["c" * 32]
        with engine.begin() as conn:  # a job written without the new columns still gets 0
            conn.exec_driver_sql(
                "INSERT INTO jobs (id, kind, status, params, created_at) "
                f"VALUES ('{'d' * 32}', 'extract', 'queued', '{{}}', 2.0)"
            )
        assert runs.get_job("d" * 32)["attempts"] == 0
    finally:
        engine.dispose()
