"""Idempotency keys for the requests that create runs (the `Idempotency-Key` header).

A client that sends one key twice — a retried POST, a double-clicked button — gets the run the
first request created instead of a second one. The key is stored on the run it created, under a
unique index (migration 0003), so two requests racing with one key are settled by the database:
one insert wins, the other hits the index and answers the winner's run (RunStore.create_run).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

HEADER = "Idempotency-Key"
MAX_LENGTH = 200
# After this a key may be used again for a new run (as Stripe and the IETF draft do): a client
# retries within minutes, and old keys would otherwise block reuse forever.
TTL_SECONDS = 24 * 3600
# Visible ASCII with spaces inside: what an HTTP header carries unchanged (servers strip the
# spaces around a value, so a key cannot start or end with one).
_KEY = re.compile(rf"[!-~](?:[ -~]{{0,{MAX_LENGTH - 2}}}[!-~])?")
KEY_PATTERN = f"^{_KEY.pattern}$"
KEY_RULE = (
    f"must be 1 to {MAX_LENGTH} printable ASCII characters (letters, digits, punctuation, spaces "
    "inside), such as a UUID"
)


class IdempotencyConflict(ValueError):
    """The key was already used for a request with another run config; the message says so."""


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an idempotency key, or None when it can."""
    if _KEY.fullmatch(key):
        return None
    if not key:
        return f"is empty; it {KEY_RULE}"
    if len(key) > MAX_LENGTH:
        return f"is {len(key):,} characters long; it {KEY_RULE}"
    return f"contains characters that are not allowed; it {KEY_RULE}"


def request_hash(config: dict[str, Any], parent_id: str | None, upload: str | None = None) -> str:
    """What a request asked for, to tell a true retry from a reused key: the validated config
    (so `{}` and the same defaults spelled out are one request), the parent run, and for a model
    import the SHA-256 of the uploaded file (`upload`: the same layers with other weights are
    another request)."""
    asked: dict[str, Any] = {"config": config, "parent_id": parent_id}
    if upload is not None:  # absent otherwise, so the hashes stored before it still match
        asked["upload"] = upload
    body = json.dumps(asked, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def derived_key(*parts: Any) -> str:
    """A key made from what identifies one user action (a page view's token, the button, the
    config it submits), for the dashboard's own submits: the same action twice, one run."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"dashboard:{digest[:48]}"


def conflict_message(run_id: str) -> str:
    return (
        f"this {HEADER} was already used for run {run_id}, with a different run config (or model "
        "file); send a new key for a new run, or the same request to get that run again"
    )
