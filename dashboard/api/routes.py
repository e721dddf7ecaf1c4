"""The JSON API under /api on the dashboard's Flask server.

`register_api(server, store)` adds one Blueprint. The route table below is the whole API; every
route has its entry in `dashboard/api/operations/`, from which `dashboard/api/openapi.py`
generates the document served at /api/openapi.json. Views live in one
module per resource (`health`, `runs`, `jobs`, `activations`, `artifacts`, `compare`), stay thin,
and call the service layer (`dashboard/service/`) and the store.

Every answer is JSON, errors included: `{"error": "<sentence>"}`, or `{"errors": [{"field",
"message"}]}` for invalid input. Unknown paths under /api are JSON 404s (a catch-all route, so
Dash's own catch-all page route never answers them with HTML), wrong methods are JSON 405s with an
`Allow` header, and an unexpected exception is logged with its traceback and answered as a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from dashboard.api import (
    activations,
    artifacts,
    attributions,
    compare,
    datasets,
    filters,
    health,
    imports,
    jobs,
    runs,
)
from dashboard.api.common import STORE_KEY, json_response, store
from dashboard.api.errors import ApiError
from dashboard.api.openapi import build_openapi
from shared.store import RunStore

log = logging.getLogger(__name__)

BLUEPRINT = "cnnlens_api"
PREFIX = "/api"
CATCH_ALL = "not_found"
# Methods the catch-all accepts, so that any method on any /api path gets a JSON answer.
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
OPENAPI_KEY = "cnnlens_openapi"


def openapi_json() -> Response:
    doc = current_app.extensions.get(OPENAPI_KEY)
    if doc is None:
        doc = current_app.extensions[OPENAPI_KEY] = openapi_document()
    return json_response(doc)


# (rule, endpoint, view, methods) — the API at a glance; dashboard/api/operations/ describes it.
ROUTES: tuple[tuple[str, str, Callable[..., Response], tuple[str, ...]], ...] = (
    ("/health", "health", health.health, ("GET",)),
    ("/openapi.json", "openapi", openapi_json, ("GET",)),
    ("/runs", "list_runs", runs.list_runs, ("GET",)),
    ("/runs", "create_run", runs.create_run, ("POST",)),
    ("/models", "import_model", imports.import_model, ("POST",)),
    ("/runs/<run_id>", "get_run", runs.get_run, ("GET",)),
    ("/runs/<run_id>", "delete_run", runs.delete_run, ("DELETE",)),
    ("/runs/<run_id>", "update_run", runs.update_run, ("PATCH",)),
    ("/runs/<run_id>/cancel", "cancel_run", runs.cancel_run, ("POST",)),
    ("/runs/<run_id>/retry", "retry_run", runs.retry_run, ("POST",)),
    ("/runs/<run_id>/filters", "list_filters", activations.list_filters, ("GET",)),
    ("/runs/<run_id>/filters/<layer>", "get_filter", activations.get_filter, ("GET",)),
    ("/runs/<run_id>/activations/probe/<k>", "get_probe", activations.get_probe, ("GET",)),
    (
        "/runs/<run_id>/activations",
        "request_activations",
        activations.request_activations,
        ("POST",),
    ),
    (
        "/runs/<run_id>/attributions",
        "request_attribution",
        attributions.request_attribution,
        ("POST",),
    ),
    (
        "/runs/<run_id>/artifacts/<api_path:name>",
        "download_artifact",
        artifacts.download_artifact,
        ("GET",),
    ),
    ("/jobs/<job_id>", "get_job", jobs.get_job, ("GET",)),
    ("/datasets", "list_datasets", datasets.list_datasets, ("GET",)),
    ("/datasets", "create_dataset", datasets.create_dataset, ("POST",)),
    ("/datasets/<dataset_id>", "get_dataset", datasets.get_dataset, ("GET",)),
    ("/datasets/<dataset_id>", "delete_dataset", datasets.delete_dataset, ("DELETE",)),
    ("/runs/<run_id>/filter-stats", "filter_stats", compare.filter_stats, ("GET",)),
    (
        "/runs/<run_id>/filters/<layer>/<k>/analysis",
        "filter_analysis",
        filters.filter_analysis,
        ("GET",),
    ),
    ("/runs/<run_id>/cka/epochs", "epoch_cka", filters.epoch_cka, ("GET",)),
    ("/runs/<run_id>/ablation", "ablation_curve", filters.ablation_curve, ("GET",)),
    ("/compare/filters", "compare_filters", compare.compare_filters, ("GET",)),
    ("/compare/cka", "compare_cka", compare.compare_cka, ("GET",)),
)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of these routes, generated (dashboard/api/openapi.py)."""
    return build_openapi(ROUTES, PREFIX, health.version())


def _allowed_methods() -> list[str]:
    """Methods the API's own routes accept at this request's path (empty: no such path)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            rule, _args = adapter.match(method=method, return_rule=True)
        except HTTPException:
            continue
        if (
            rule.endpoint.startswith(f"{BLUEPRINT}.")
            and rule.endpoint != f"{BLUEPRINT}.{CATCH_ALL}"
        ):
            allowed.append(method)
    return allowed


def not_found(rest: str = "") -> Response:
    allowed = _allowed_methods()
    if allowed:
        shown = ", ".join(allowed)
        headers = {
            "Allow": ", ".join([*allowed, *(["HEAD"] if "GET" in allowed else []), "OPTIONS"])
        }
        if request.method == "OPTIONS":
            return Response(status=204, headers=headers)
        return json_response(
            {
                "error": f"{request.method} is not allowed on {request.path}; use {shown}",
                "allowed": allowed,
            },
            405,
            headers,
        )
    return json_response(
        {
            "error": f"there is no API endpoint at {request.path}; the API is "
            f"described at {PREFIX}/openapi.json"
        },
        404,
    )


def _api_error(exc: ApiError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 413:
        limit = request.max_content_length
        message = "the request body is too large" + (
            f"; the limit is {limit:,} bytes" if limit else ""
        )
    elif status == 405:
        return not_found()
    elif status == 404:
        message = f"there is no API endpoint at {request.path}"
    else:
        message = (exc.description or exc.name).strip()
    headers = {
        k: v for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")
    }
    return json_response({"error": message}, status, headers)


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error in %s %s", request.method, request.path)
    return json_response({"error": "internal error, see server log"}, 500)


def _limit_body() -> None:
    # API bodies are small (a run config, a 28×28 image); never read more than the configured cap.
    caps = [
        c
        for c in (current_app.config.get("MAX_CONTENT_LENGTH"), store().settings.max_request_bytes)
        if c
    ]
    if caps:
        request.max_content_length = min(caps)


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def build_blueprint() -> Blueprint:
    bp = Blueprint(BLUEPRINT, __name__, url_prefix=PREFIX)
    # OPTIONS is answered by the catch-all, which lists only this path's real methods (Flask's
    # automatic OPTIONS would list the catch-all's too).
    for rule, endpoint, view, methods in ROUTES:
        bp.add_url_rule(
            rule, endpoint, view, methods=list(methods), provide_automatic_options=False
        )
    for rule in ("/", "/<api_path:rest>"):
        bp.add_url_rule(
            rule, CATCH_ALL, not_found, methods=list(ANY_METHOD), provide_automatic_options=False
        )
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)
    bp.before_request(_limit_body)
    bp.after_request(_headers)
    return bp


class ApiPathConverter(PathConverter):
    """Like `path`, but also matches newlines (%0A), so such paths reach the JSON catch-all."""

    regex = r"[^/][\s\S]*?"


def _is_api_path() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def _routing_fallback(server: Flask, code: int) -> None:
    """JSON for routing errors under /api that no API rule could catch (odd methods, paths).

    Other paths keep whatever handler the app had (or Flask's default page).
    """
    previous = server.error_handler_spec.get(None, {}).get(code, {})
    earlier = next(iter(previous.values()), None)

    def handle(exc: HTTPException) -> Any:
        if _is_api_path():
            return not_found() if code == 405 else _http_error(exc)
        return earlier(exc) if earlier else exc

    server.register_error_handler(code, handle)


def register_api(server: Flask, store: RunStore) -> None:
    """Serve the JSON API under /api on `server`, reading and writing runs through `store`."""
    server.extensions[STORE_KEY] = store
    server.url_map.converters.setdefault("api_path", ApiPathConverter)
    server.register_blueprint(build_blueprint())
    for code in (404, 405):
        _routing_fallback(server, code)
