"""A small Python client for the CNN Lens HTTP API (docs/ARCHITECTURE.md, "The API").

It imports only `requests`, so scripts and the `cnnlens` command start fast and need neither the
store nor the dashboard. Every failure is an `ApiError` carrying the server's own sentence:

    client = CnnLensClient("http://127.0.0.1:8050")
    run = client.submit({"epochs": 1})
    final = client.wait(run["id"], on_progress=lambda r: print(r["progress"]["fraction"]))
    client.download(run["id"], "model.keras", "model.keras")
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

# The API's run states (shared.store), repeated so that this module needs nothing but requests.
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINISHED = ("succeeded", "failed", "cancelled")
DEFAULT_URL = "http://127.0.0.1:8050"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REQUESTED_WITH = "X-Requested-With"
# Answers after which a submit may have reached the server although its answer did not reach us
# (0: no connection or a timeout): retried with the same key, which the server deduplicates.
RETRY_STATUSES = (0, 502, 503, 504)
Rows = list[dict[str, Any]]  # (in the class, `list` is the method of that name)


class ApiError(Exception):
    """A request the server refused (status ≥ 400) or could not answer (status 0)."""

    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []  # per-field problems of a 422: [{"field", "message"}]


class CnnLensClient:
    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        timeout: float = 10.0,
        auth: tuple[str, str] | None = None,
        retries: int = 2,
        retry_delay: float = 0.5,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.session = requests.Session()
        self.session.auth = auth
        # The server refuses writes that are neither JSON nor marked as coming from a script
        # (a cross-site form could send them): cancel and delete have no body, so mark them all.
        self.session.headers[REQUESTED_WITH] = "cnnlens"

    # --- runs ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        # 503 still carries the body that says which part (broker or store) is down.
        return self._request("GET", "/health", ok=(200, 503)).json()

    def submit(self, config: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """Queue a run. Every attempt sends the same Idempotency-Key (a new UUID unless given), so
        the retries after a lost answer never queue a second run: the server answers the run the
        first attempt made, with `"replayed": true`. Pass your own key to make a whole script
        safe to run again."""
        headers = {IDEMPOTENCY_HEADER: idempotency_key or str(uuid.uuid4())}
        for attempt in range(self.retries + 1):
            try:
                return self._request("POST", "/runs", json=config, headers=headers).json()
            except ApiError as exc:
                if exc.status not in RETRY_STATUSES or attempt == self.retries:
                    raise
            time.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    def list(
        self,
        status: str | None = None,
        dataset: str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        params = {"status": status, "dataset": dataset, "name": name, "limit": limit}
        query = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", "/runs", params=query).json()["runs"]

    def get(self, run_id: str) -> dict[str, Any]:
        return self._request("GET", f"/runs/{_segment(run_id)}").json()

    def cancel(self, run_id: str) -> dict[str, Any]:
        return self._request("POST", f"/runs/{_segment(run_id)}/cancel").json()

    def delete(self, run_id: str) -> None:
        self._request("DELETE", f"/runs/{_segment(run_id)}")

    def wait(
        self,
        run_id: str,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        interval: float = 1.0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll until the run is succeeded, failed or cancelled, and return it.

        `interrupted` is not an end: the run resumes when a worker picks it up again.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get(run_id)
            if on_progress is not None:
                on_progress(run)
            if run["status"] in FINISHED:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} is still {run['status']} after {timeout:g} s")
            time.sleep(interval)

    def download(self, run_id: str, name: str, dest: str | Path) -> Path:
        """Save artifact `name` to `dest` (a file, or a folder to keep the artifact's name)."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / Path(name).name
        path = f"/runs/{_segment(run_id)}/artifacts/{name}"
        with self._request("GET", path, stream=True) as resp:
            # Into a temporary file beside the target, renamed at the end: an interrupted
            # download never leaves a truncated model where a complete one is expected.
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in resp.iter_content(chunk_size=1 << 16):
                        out.write(chunk)
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return dest

    # --- datasets --------------------------------------------------------------------------
    def datasets(self) -> Rows:
        """The built-in and imported datasets."""
        return self._request("GET", "/datasets").json()["datasets"]

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        return self._request("GET", f"/datasets/{_segment(dataset_id)}").json()

    def import_dataset(
        self,
        path: str | Path,
        name: str,
        test_fraction: float | None = None,
        timeout: float = 600.0,
    ) -> dict[str, Any]:
        """Upload a .npz or a .zip of class folders; the answer is the dataset, `importing`.
        The file is streamed from disk; an upload of hundreds of MB gets `timeout` seconds."""
        path = Path(path)
        form: dict[str, str] = {"name": name}
        if test_fraction is not None:
            form["test_fraction"] = str(test_fraction)
        return self._upload("/datasets", "file", path, form, {}, timeout)

    def wait_dataset(
        self,
        dataset_id: str,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        interval: float = 1.0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll until the import is ready or failed, and return the dataset."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self.dataset(dataset_id)
            if on_progress is not None:
                on_progress(row)
            if row["status"] != "importing":
                return row
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"dataset {dataset_id} is still importing after {timeout:g} s")
            time.sleep(interval)

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", f"/datasets/{_segment(dataset_id)}")

    # --- imported models -------------------------------------------------------------------
    def import_model(
        self,
        path: str | Path,
        dataset: str,
        name: str | None = None,
        timeout: float = 120.0,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Upload a .keras file trained elsewhere; the answer is its run (origin `imported`,
        queued until a worker has evaluated it: follow it with `wait`). Like `submit`, every
        attempt sends one Idempotency-Key, so a retry after a lost answer imports it once."""
        path = Path(path)
        form = {"dataset": dataset, **({"name": name} if name else {})}
        headers = {IDEMPOTENCY_HEADER: idempotency_key or str(uuid.uuid4())}
        for attempt in range(self.retries + 1):
            try:
                return self._upload("/models", "model", path, form, headers, timeout)
            except ApiError as exc:
                if exc.status not in RETRY_STATUSES or attempt == self.retries:
                    raise
            time.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises

    # --- comparing -------------------------------------------------------------------------
    def compare(self, run_a: str, run_b: str) -> dict[str, Any]:
        """Two runs side by side: their config differences and test results."""
        a, b = self.get(run_a), self.get(run_b)
        return {"a": a, "b": b, "config_diff": config_diff(a["config"], b["config"])}

    # --- plumbing --------------------------------------------------------------------------
    def _upload(
        self,
        path: str,
        field: str,
        file: Path,
        form: dict[str, str],
        headers: dict[str, str],
        timeout: float,
    ) -> dict[str, Any]:
        """POST a multipart form with one file, streamed from disk; the answer's JSON."""
        with open(file, "rb") as fh:
            files = {field: (file.name, fh, "application/octet-stream")}
            try:
                resp = self.session.post(
                    f"{self.base_url}/api{path}",
                    data=form,
                    files=files,
                    headers=headers,
                    timeout=timeout,
                )
            except requests.RequestException as exc:
                raise ApiError(
                    0, f"cannot reach CNN Lens at {self.base_url} ({type(exc).__name__})"
                ) from exc
        if resp.status_code >= 400:
            raise _error_from(resp)
        return resp.json()

    def _request(
        self, method: str, path: str, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        url = f"{self.base_url}/api{path}"
        try:
            resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ApiError(
                0,
                f"cannot reach CNN Lens at {self.base_url} "
                f"({type(exc).__name__}); is the dashboard running?",
            ) from exc
        if resp.status_code >= 400 and resp.status_code not in ok:
            raise _error_from(resp)
        return resp


def _segment(run_id: str) -> str:
    # Ids are hex; anything else is sent quoted so it cannot change the path it lands on.
    return quote(run_id, safe="")


def _error_from(resp: requests.Response) -> ApiError:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        errors = [e for e in body["errors"] if isinstance(e, dict)]
        message = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors)
        return ApiError(resp.status_code, message or "the request was invalid", errors)
    if isinstance(body, dict) and body.get("error"):
        return ApiError(resp.status_code, str(body["error"]))
    if resp.status_code == 401:
        return ApiError(
            401, "the server asks for a login: set CNNLENS_AUTH_USER and CNNLENS_AUTH_PASSWORD"
        )
    return ApiError(resp.status_code, f"HTTP {resp.status_code} {resp.reason} from {resp.url}")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config as dotted paths: {"layers.0.filters": 16, "epochs": 3, ...}."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, sub in items:
        flat.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
    if not flat and prefix:
        flat[prefix] = value  # keep empty lists/objects visible
    return flat


_MISSING = "—"


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, value in a, value in b) for every field that differs, in a stable order."""
    fa, fb = flatten(a), flatten(b)
    keys = list(dict.fromkeys([*fa, *fb]))
    return [
        (k, fa.get(k, _MISSING), fb.get(k, _MISSING))
        for k in keys
        if fa.get(k, _MISSING) != fb.get(k, _MISSING)
    ]
