"""Fixtures of the API tests: a Flask app with only the API, over a store in a temporary folder.

Tasks go to the real Redis, in a spare database (15) that is flushed afterwards, so no real worker
ever picks up a test's messages.
"""

from __future__ import annotations

import pytest
from flask import Flask

from dashboard.api.routes import register_api
from shared.queue import producer
from shared.settings import Settings, get_settings
from shared.store import RunStore
from tests.api.support import TEST_REDIS, flush_test_redis


@pytest.fixture
def api_store(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS)
    monkeypatch.setenv("CNNLENS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CNNLENS_BROKER_URL", raising=False)
    get_settings.cache_clear()
    producer.cache_clear()
    settings = Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path, REDIS_URL=TEST_REDIS)
    store = RunStore(settings).init()
    yield store
    store.engine.dispose()
    flush_test_redis()
    get_settings.cache_clear()
    producer.cache_clear()


@pytest.fixture
def app(api_store):
    server = Flask(__name__)
    register_api(server, api_store)
    return server


@pytest.fixture
def client(app):
    return app.test_client()
