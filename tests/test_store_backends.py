"""The run store and its migrations against both backends: SQLite and a real PostgreSQL.

PostgreSQL tests run in throwaway databases (`cnnlens_test_<random>`) created through the
`CNNLENS_TEST_POSTGRES` admin URL and dropped at the end of the session, so they never touch
other data. Without a reachable server they are skipped locally, but fail in CI (`CI` set).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from shared import db, migrate
from shared.config import parse_config
from shared.idempotency import TTL_SECONDS, IdempotencyConflict
from shared.settings import Settings
from shared.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "CNNLENS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


# --- databases -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_database():
    """A factory of fresh PostgreSQL databases; returns their plain `postgresql://` URLs."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect():
            pass
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the PostgreSQL store tests)")
        pytest.skip(f"{reason}; set CNNLENS_TEST_POSTGRES to run these tests")
    created: list[str] = []

    def make() -> str:
        name = f"cnnlens_test_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = admin.url.set(drivername="postgresql", database=name)
        # The plain scheme, as most tools print it: Settings must turn it into psycopg 3.
        return url.render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in created:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def pg_store_url(pg_database):
    """One migrated database shared by the store tests, emptied before each of them."""
    url = pg_database()
    migrate.upgrade(Settings(_env_file=None, DATABASE_URL=url).sqlalchemy_url)
    return url


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cnnlens.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_store_url")
    settings = Settings(_env_file=None, CNNLENS_DATA_DIR=str(tmp_path), DATABASE_URL=url)
    runs = RunStore(settings).init()
    if request.param == "postgresql":
        with runs.engine.begin() as conn:
            conn.execute(text("TRUNCATE runs, epochs, jobs"))
    yield runs
    runs.engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    """The SQLAlchemy URL of a database with no tables at all."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    return Settings(
        _env_file=None, DATABASE_URL=request.getfixturevalue("pg_database")()
    ).sqlalchemy_url


def new_run(store, **cfg):
    return store.create_run(*parse_config(cfg))


# --- runs ----------------------------------------------------------------------------------
def test_create_get_list_and_filter(store):
    a = new_run(store, name="alpha 100%", epochs=1)
    b = new_run(store, name="beta_1", dataset="fashion_mnist")
    c = new_run(store, name="Alpha two")
    store.update_fields(c["id"], status="succeeded")
    assert a["status"] == "queued" and a["config"]["epochs"] == 1
    assert store.get_run(a["id"])["history"] == {
        "loss": [],
        "accuracy": [],
        "val_loss": [],
        "val_accuracy": [],
    }
    assert [r["id"] for r in store.list_runs()] == [c["id"], b["id"], a["id"]]
    assert [r["id"] for r in store.list_runs(status="queued")] == [b["id"], a["id"]]
    assert [r["id"] for r in store.list_runs(dataset="fashion_mnist")] == [b["id"]]
    assert [r["id"] for r in store.list_runs(name="ALPHA")] == [c["id"], a["id"]]
    # LIKE wildcards in a name filter are literal characters, not patterns.
    assert [r["id"] for r in store.list_runs(name="100%")] == [a["id"]]
    assert store.list_runs(name="beta%") == []
    assert [r["id"] for r in store.list_runs(name="a_1")] == [b["id"]]
    assert len(store.list_runs(limit=2)) == 2
    assert store.get_run("0" * 32) is None and store.get_run("not-an-id") is None


def test_only_one_of_eight_concurrent_claims_wins(store):
    run = new_run(store)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim(i):
        barrier.wait()
        wins.append(store.claim(run["id"], f"worker-{i}", 60))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    assert store.get_run(run["id"])["attempts"] == 1


def test_expired_lease_is_reclaimed_and_stale_runs_are_interrupted(store):
    run, fresh = new_run(store), new_run(store)
    assert store.claim(run["id"], "w1", lease_seconds=-1)  # lease already expired
    assert store.claim(run["id"], "w2", lease_seconds=60)
    assert not store.claim(run["id"], "w3", lease_seconds=60)  # w2's lease is fresh
    store.heartbeat(run["id"], "w1", 60, epoch=2)  # the old owner's heartbeat is ignored
    assert store.get_run(run["id"])["progress"]["epoch"] == 0
    store.claim(fresh["id"], "w4", 60)
    store.update_fields(run["id"], heartbeat_at=0)
    assert store.mark_stale_interrupted(heartbeat_timeout=5) == [run["id"]]
    got = store.get_run(run["id"])
    assert got["status"] == "interrupted" and store.get_run(fresh["id"])["status"] == "running"
    assert store.claim(run["id"], "w5", 60)  # picked up again to resume
    assert store.get_run(run["id"])["attempts"] == 3


def test_cancel_queued_running_and_finished(store):
    queued, running, done = new_run(store), new_run(store), new_run(store)
    assert store.request_cancel(queued["id"]) == "cancelled"
    assert not store.claim(queued["id"], "w", 60)  # a cancelled run never starts
    assert store.claim(running["id"], "w", 60)
    assert store.request_cancel(running["id"]) == "running"
    assert store.cancel_requested(running["id"])
    assert store.request_cancel(running["id"]) == "running"  # twice is harmless
    store.finish(running["id"], "cancelled")
    assert store.get_run(running["id"])["status"] == "cancelled"
    store.finish(done["id"], "succeeded")
    assert store.request_cancel(done["id"]) == "succeeded"
    assert not store.cancel_requested(done["id"])
    assert store.request_cancel("0" * 32) is None


def test_record_epoch_upserts_after_a_resume(store):
    run = new_run(store, epochs=3)
    for epoch, loss in ((1, 1.0), (2, 0.5), (3, 0.4), (2, 0.45), (3, 0.3)):
        store.record_epoch(
            run["id"],
            epoch,
            {"loss": loss, "accuracy": 0.5, "val_loss": float("inf"), "val_accuracy": 0.4},
        )
    history = store.get_run(run["id"])["history"]
    assert history["loss"] == [1.0, 0.45, 0.3]
    assert history["val_loss"] == [None, None, None]
    lines = (store.run_dir(run["id"]) / "history.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_delete_removes_rows_and_files(store):
    run, other = new_run(store), new_run(store)
    store.record_epoch(run["id"], 1, {"loss": 1.0})
    job = store.create_job("extract", run["id"], {"run_id": run["id"]})
    assert store.delete_run(run["id"])
    assert store.get_run(run["id"]) is None and store.get_job(job) is None
    assert store.history_rows(run["id"]) == []
    assert not store.run_dir(run["id"]).exists()
    assert not store.delete_run(run["id"])
    assert store.get_run(other["id"]) is not None


def test_jobs_create_get_and_set(store):
    run = new_run(store)
    job_id = store.create_job("extract", run["id"], {"run_id": run["id"], "input_hash": "ab"})
    job = store.get_job(job_id)
    assert job["status"] == "queued" and job["params"]["input_hash"] == "ab"
    assert job["result"] is None and job["finished_at"] is None
    assert store.create_job("extract", run["id"], {"other": 1}, job_id=job_id) == job_id
    assert store.get_job(job_id)["params"] == {"run_id": run["id"], "input_hash": "ab"}
    store.set_job(job_id, "running")
    assert store.get_job(job_id)["status"] == "running"
    store.set_job(job_id, "succeeded", result={"layers": ["conv2d_1"], "top": 7})
    done = store.get_job(job_id)
    assert done["result"] == {"layers": ["conv2d_1"], "top": 7} and done["finished_at"]
    store.set_job(job_id, "failed", error="The input image could not be read.")
    assert store.get_job(job_id)["error"] == "The input image could not be read."
    assert store.get_job("0" * 32) is None and store.get_job("../x") is None


# --- idempotency keys ----------------------------------------------------------------------
def keyed_run(store, key, parent_id=None, **cfg):
    return store.create_run(*parse_config(cfg), parent_id=parent_id, idempotency_key=key)


def test_a_key_used_twice_answers_the_first_run(store):
    first = keyed_run(store, "key-1", epochs=1)
    assert "replayed" not in first
    again = keyed_run(store, "key-1", epochs=1)
    assert again["id"] == first["id"] and again["replayed"] is True
    assert again["history"] == first["history"] and again["name"] == first["name"]
    assert keyed_run(store, "key-2", epochs=1)["id"] != first["id"]
    assert new_run(store, epochs=1)["id"] != first["id"]  # no key: always a new run
    assert len(store.list_runs()) == 3


def test_a_key_with_another_config_or_parent_is_a_conflict(store):
    first = keyed_run(store, "shared", epochs=1)
    with pytest.raises(IdempotencyConflict, match=first["id"]):
        keyed_run(store, "shared", epochs=2)
    with pytest.raises(IdempotencyConflict):
        keyed_run(store, "shared", parent_id=first["id"], epochs=1)
    assert [r["id"] for r in store.list_runs()] == [first["id"]]


def test_an_expired_key_makes_a_new_run(store):
    old = keyed_run(store, "yesterday", epochs=1)
    store.update_fields(old["id"], created_at=time.time() - TTL_SECONDS - 60)
    # Past the window even another config is fine: the key is free again.
    fresh = keyed_run(store, "yesterday", epochs=2)
    assert fresh["id"] != old["id"] and "replayed" not in fresh
    assert keyed_run(store, "yesterday", epochs=2)["id"] == fresh["id"]
    assert store.get_run(old["id"])["config"]["epochs"] == 1  # the old run itself stays


def test_a_deleted_run_frees_its_key(store):
    gone = keyed_run(store, "k")
    store.delete_run(gone["id"])
    assert keyed_run(store, "k")["id"] != gone["id"]


def test_eight_concurrent_creates_with_one_key_make_one_run(store):
    barrier = threading.Barrier(8)
    made: list[dict] = []

    def create():
        barrier.wait()
        made.append(keyed_run(store, "raced", epochs=1))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 8 and len({r["id"] for r in made}) == 1
    assert sum(1 for r in made if not r.get("replayed")) == 1
    assert len(store.list_runs()) == 1
    assert [p.name for p in store.settings.runs_dir.iterdir()] == [made[0]["id"]]


def test_losing_the_insert_race_answers_the_winner(store, monkeypatch):
    # Both requests looked the key up before either inserted: the unique index decides, and the
    # loser's config folder is removed.
    winner = keyed_run(store, "race", epochs=1)
    looked_up = store._run_for_key
    calls: list[str] = []

    def first_lookup_misses(key, digest):
        calls.append(key)
        return None if len(calls) == 1 else looked_up(key, digest)

    monkeypatch.setattr(store, "_run_for_key", first_lookup_misses)
    loser = keyed_run(store, "race", epochs=1)
    assert loser["id"] == winner["id"] and loser["replayed"] and len(calls) == 2
    assert [p.name for p in store.settings.runs_dir.iterdir()] == [winner["id"]]
    with pytest.raises(IdempotencyConflict):  # the race lost with another config
        calls.clear()
        keyed_run(store, "race", epochs=2)


# --- migrations ----------------------------------------------------------------------------
def alembic_rows(url: str) -> list[str]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(empty_url):
    migrate.upgrade(empty_url)
    migrate.upgrade(empty_url)
    assert alembic_rows(empty_url) == [migrate.head_revision()]


def test_upgrade_from_several_processes_at_once(empty_url):
    # Each child imports everything first, then all call upgrade() at the same instant.
    start = time.time() + 3
    child = textwrap.dedent(f"""
        import sys, time
        from shared import migrate
        time.sleep(max(0.0, {start} - time.time()))
        migrate.upgrade(sys.argv[1])
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", child, empty_url], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n".join(errors)
    assert alembic_rows(empty_url) == [migrate.head_revision()]


def test_upgrade_from_0001_keeps_existing_runs(empty_url, tmp_path):
    migrate.upgrade(empty_url, "0001")
    legacy = RunStore(
        Settings(_env_file=None, CNNLENS_DATA_DIR=str(tmp_path)), engine=db.make_engine(empty_url)
    )
    # Written with 0001's columns only: today's store reads columns that 0001 lacks.
    config, layers = parse_config({"name": "trained before the upgrade"})
    run = {"id": "b" * 32}
    with legacy.engine.begin() as conn:
        conn.execute(
            insert(db.runs).values(
                id=run["id"],
                name=config.name,
                status="succeeded",
                dataset=config.dataset,
                config=config.model_dump_json(),
                architecture="",
                params=sum(info.params for info in layers),
                created_at=1.0,
                epoch=1,
                epochs=config.epochs,
                step=0,
                steps=0,
                cancel_requested=False,
                attempts=1,
                tags="[]",
                notes="",
            )
        )
        conn.execute(insert(db.epochs).values(run_id=run["id"], epoch=1, loss=0.7, accuracy=0.8))
    legacy.engine.dispose()
    assert alembic_rows(empty_url) == ["0001"]

    upgraded = RunStore(legacy.settings, engine=db.make_engine(empty_url)).init()
    try:
        assert alembic_rows(empty_url) == [migrate.head_revision()]
        got = upgraded.get_run(run["id"])
        assert got["name"] == "trained before the upgrade" and got["history"]["loss"] == [0.7]
        indexes = {ix["name"] for ix in inspect(upgraded.engine).get_indexes("runs")}
        assert {"ix_runs_status_created_at", "ix_runs_idempotency_key"} <= indexes
        # A run from before 0003 has no key; new runs can use one.
        assert new_run(upgraded, name="after")["id"] != run["id"]
        keyed = upgraded.create_run(*parse_config({}), idempotency_key="k")
        assert upgraded.create_run(*parse_config({}), idempotency_key="k")["id"] == keyed["id"]
    finally:
        upgraded.engine.dispose()


def test_database_made_by_create_all_is_stamped_then_upgraded(empty_url, tmp_path):
    engine = db.make_engine(empty_url)
    db.metadata.create_all(engine)  # what RunStore.init() did before migrations
    with engine.begin() as conn:
        conn.execute(
            insert(db.runs).values(
                id="a" * 32,
                name="old",
                status="succeeded",
                dataset="mnist",
                config="{}",
                architecture="",
                params=0,
                created_at=1.0,
                epoch=3,
                epochs=3,
                step=0,
                steps=0,
                cancel_requested=False,
                attempts=1,
                tags="[]",
                notes="",
            )
        )
    store = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=str(tmp_path)), engine=engine)
    store.init()
    try:
        assert alembic_rows(empty_url) == [migrate.head_revision()]
        assert store.get_run("a" * 32)["name"] == "old"
    finally:
        engine.dispose()


def test_revision_0001_is_exactly_shared_db(empty_url):
    engine = db.make_engine(empty_url)
    try:
        migrate.upgrade(engine, "0001")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        # At 0001 only what later revisions add may be missing.
        added = {(d[0], d[-1].name) for d in diff}
        assert added <= {
            ("add_index", "ix_runs_status_created_at"),
            ("add_index", "ix_runs_idempotency_key"),
            ("add_column", "idempotency_key"),
            ("add_column", "request_hash"),
            ("add_column", "attempts"),  # jobs.attempts and jobs.started_at: 0004
            ("add_column", "started_at"),
            ("add_table", "datasets"),  # imported datasets: 0005
            ("add_index", "ix_datasets_created_at"),
            ("add_column", "origin"),  # runs.origin: 0006
            ("add_column", "progress"),  # jobs.progress: 0007
        }, diff
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
    finally:
        engine.dispose()


def test_settings_accept_plain_postgresql_urls():
    url = Settings(_env_file=None, DATABASE_URL="postgresql://u@h:5432/d").sqlalchemy_url
    assert make_url(url).drivername == "postgresql+psycopg"
