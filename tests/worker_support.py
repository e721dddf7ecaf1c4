"""Shared by the tests that call the worker's functions directly in this process (no Celery, no
Redis): a store of their own in a temporary folder, and a tiny run trained through the worker's
real training code."""

from __future__ import annotations

from pathlib import Path

from shared.config import parse_config
from shared.settings import Settings
from shared.store import RunStore


def sqlite_store(data_dir: Path) -> RunStore:
    """A migrated store on SQLite in `data_dir`, ignoring any .env of the machine's."""
    settings = Settings(
        _env_file=None,
        CNNLENS_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'test.sqlite3'}",
    )
    return RunStore(settings).init()


def train(store: RunStore, config: dict) -> str:
    """Create a run of `config` and train it here; its id, once it has succeeded."""
    from worker.training import train_run  # imports Keras: only the tests that train need it

    settings_config, infos = parse_config(config)
    run_id = store.create_run(settings_config, infos)["id"]
    assert train_run(store, run_id, "test-owner") == "succeeded"
    return run_id
