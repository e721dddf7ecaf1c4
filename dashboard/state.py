"""Process-wide state of the dashboard: its RunStore and a cached broker check.

Pages call `get_store()` instead of building their own store, so one process holds one SQL engine
(one connection pool) and tests can swap in a store on a temporary folder with `set_store()`.
Nothing connects at import time.
"""

from __future__ import annotations

import logging
import threading
import time

from shared.queue import broker_reachable
from shared.settings import get_settings
from shared.store import RunStore

log = logging.getLogger(__name__)
_lock = threading.Lock()
_store: RunStore | None = None

BROKER_TTL = 5.0  # seconds a broker check is reused
_broker = {"ok": True, "checked": 0.0, "checking": False}


def get_store() -> RunStore:
    """The process's RunStore, created from the settings on first use."""
    global _store
    if _store is None:
        with _lock:
            if _store is None:
                _store = RunStore(get_settings()).init()
    return _store


def set_store(store: RunStore | None) -> None:
    """Use `store` from now on (tests, or an app built around a given store)."""
    global _store
    with _lock:
        _store = store
    reset_broker_cache()


def reset_broker_cache(ok: bool = True) -> None:
    _broker.update(ok=ok, checked=0.0, checking=False)


def _check_broker() -> None:
    try:
        settings = _store.settings if _store is not None else get_settings()
        ok = broker_reachable(settings)
    except Exception:
        ok = False
    _broker.update(ok=ok, checked=time.monotonic(), checking=False)


def broker_ok(wait: bool = False) -> bool:
    """Whether the task queue answered recently.

    Polling callbacks must stay fast even when the broker is down (a failed connect takes up to
    half a second), so a stale answer is refreshed in a background thread and the last known one
    is returned meanwhile. `wait=True` checks synchronously when the cache is stale.
    """
    stale = time.monotonic() - _broker["checked"] > BROKER_TTL
    if stale and wait:
        _check_broker()
    elif stale and not _broker["checking"]:
        _broker["checking"] = True
        threading.Thread(target=_check_broker, name="cnnlens-broker-check", daemon=True).start()
    return bool(_broker["ok"])


STALE_CHECK_SECONDS = 10.0  # how often the dashboard looks for runs whose worker died
_stale = {"checked": 0.0}


def mark_dead_runs() -> list[str]:
    """Runs whose worker stopped heart-beating become `interrupted`, so the pages say so even when
    no worker is left to run the recovery sweep (it runs in the workers). The sweep re-sends them
    once a worker is back. At most every STALE_CHECK_SECONDS; never raises."""
    now = time.monotonic()
    if now - _stale["checked"] < STALE_CHECK_SECONDS:
        return []
    _stale["checked"] = now
    try:
        store = get_store()
        return store.mark_stale_interrupted(store.settings.heartbeat_timeout)
    except Exception:  # the store may be unreachable for a moment; the pages say so elsewhere
        log.warning("could not look for runs whose worker stopped", exc_info=True)
        return []
