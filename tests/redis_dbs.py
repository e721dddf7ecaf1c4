"""Redis databases the tests use, so parallel test sessions on one machine don't flush each other.

Set CNNLENS_TEST_REDIS_DB (integration workers) and CNNLENS_TEST_REDIS_SINK_DB (where API/CLI
tests send tasks that no worker should run) to give a session its own databases.
"""

import os

BASE = os.environ.get("CNNLENS_TEST_REDIS", "redis://127.0.0.1:6379")
WORKER_DB = int(os.environ.get("CNNLENS_TEST_REDIS_DB", "13"))
SINK_DB = int(os.environ.get("CNNLENS_TEST_REDIS_SINK_DB", "15"))
SINK_URL = f"{BASE}/{SINK_DB}"
