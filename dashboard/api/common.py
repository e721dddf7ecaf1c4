"""Helpers every JSON API view uses: the store, error answers, request bodies, array encoding.

Views validate everything before they touch the store, and say what was wrong in a sentence; an
`ApiError` raised anywhere in a view becomes `{"error": ...}` (or `{"errors": [...]}`) with its
status code.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
from flask import Response, current_app, request

from dashboard.api.errors import ApiError, invalid
from shared import idempotency
from shared.config import CONTROL_CHARS as CONTROL_CHARS  # the name rule, for the views
from shared.store import RunStore

STORE_KEY = "cnnlens_store"
JSON_MIMETYPE = "application/json"
# What a name with control characters is told (the rule: shared.config.CONTROL_CHARS).
CONTROL_MESSAGE = "must not contain control characters (such as newlines, tabs or NUL)"
INTEGER_RE = re.compile(r"-?[0-9]{1,12}")  # plain decimal digits: no "+5", " 5", "5_0" or "5.0"


def idempotency_key() -> str | None:
    """The request's `Idempotency-Key` header, checked (shared/idempotency.py); None if absent."""
    key = request.headers.get(idempotency.HEADER)
    if key is None:
        return None
    key = key.strip(" \t")  # what a server in front would strip anyway
    problem = idempotency.key_problem(key)
    if problem:
        raise invalid(idempotency.HEADER, problem)
    return key


def store() -> RunStore:
    return current_app.extensions[STORE_KEY]


def shown(value: str, limit: int = 80) -> str:
    """A user-given value quoted for an error sentence, cut short when it is long."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def load_run(run_id: str, with_history: bool = True) -> dict[str, Any]:
    """The run, or a 404 that names the id (ids that are not 32 hex digits never exist)."""
    run = store().get_run(run_id, with_history=with_history)
    if run is None:
        raise ApiError(404, f"no run with id {shown(run_id)}")
    return run


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Strict JSON (no NaN/Infinity literals, which browsers' JSON.parse rejects)."""
    try:
        text = json.dumps(obj, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(obj), allow_nan=False)
    return Response(text, status=status, mimetype=JSON_MIMETYPE, headers=headers)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def nested(array: np.ndarray, digits: int) -> list[Any]:
    """A numeric array as nested lists of Python floats rounded to `digits`; NaN/inf → null."""
    values = np.round(np.asarray(array, dtype=np.float64), digits)
    finite = np.isfinite(values)
    if finite.all():
        return values.tolist()
    out = values.astype(object)
    out[~finite] = None
    return out.tolist()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def read_json_body(*, empty: Any = None) -> Any:
    """The request body parsed as strict JSON, or an ApiError(400) saying what is wrong.

    An empty body returns `empty`; one of only spaces or newlines is not JSON (a 400, as the
    document says). A body must be sent as `application/json` (or `…+json`).
    """
    raw = request.get_data(cache=True)  # raises RequestEntityTooLarge (413) past the limit
    if not raw:
        return empty
    if not request.is_json:
        sent_as = request.mimetype or "none"
        raise ApiError(
            400,
            "the request body must be JSON sent with the header "
            f"'Content-Type: application/json' (it was sent as {sent_as})",
        )
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
        # Lone surrogates ("\ud800") parse but cannot be stored as UTF-8: reject them here.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise ApiError(400, "the request body is not valid UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "the request body is nested too deeply") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's guard against 4,300+ digit ints
            raise ApiError(400, "the request body has a number with too many digits") from None
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    return data


def parse_index(value: str, what: str, size: int) -> int:
    """A path segment that must be a whole number in [0, size); 404 naming the range otherwise."""
    if size <= 0:
        raise ApiError(404, f"there is no {what}: the list is empty")
    index = int(value) if INTEGER_RE.fullmatch(value) else None
    if index is None or not 0 <= index < size:
        raise ApiError(
            404, f"no {what} {shown(value)}: it must be a whole number from 0 to {size - 1}"
        )
    return index


def query_int(name: str, low: int, high: int) -> int | None:
    """An optional integer query parameter within [low, high], else a 422 for that field."""
    raw = request.args.get(name)
    if raw is None:
        return None
    value = int(raw) if INTEGER_RE.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise invalid(name, f"must be a whole number from {low} to {high}")
    return value
