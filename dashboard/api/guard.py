"""Who may talk to the dashboard: its own host names, its own pages, no framing, no cross-site writes.

`install_guard(server, settings)` adds one `before_request` and one `after_request` to the whole
Flask server (pages, Dash's callback endpoint and the API):

- The Host header must name this server (`CNNLENS_ALLOWED_HOSTS`, loopback names by default), so
  a DNS-rebinding page that resolves its own name to 127.0.0.1 gets nothing. `GET /api/health`
  answers any host name: health checks come by IP address.
- A request that changes state (POST, PUT, PATCH, DELETE) is refused when the browser says it
  comes from another site (`Sec-Fetch-Site: cross-site` or `same-site`) or from another origin
  (`Origin` not this host, or `null`).
- Under /api such a request must also say it is JSON (`Content-Type: application/json`), or
  carry `X-Requested-With` (any value; what `curl -F` uploads and the CLI send): a plain HTML
  form or `fetch` without a preflight can send neither, so a page elsewhere cannot create,
  cancel or delete runs, even with an empty body.
- Every answer forbids framing (`Content-Security-Policy: frame-ancestors 'none'`,
  `X-Frame-Options: DENY`), so no page can overlay the dashboard's buttons.

Refusals are short sentences: JSON under /api, plain text elsewhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import flask

from shared.settings import Settings

CUSTOM_HEADER = "X-Requested-With"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
API_PREFIX = "/api/"
FOREIGN_SITES = ("cross-site", "same-site")
HEALTH = "/api/health"


def _hostname(host: str) -> str:
    """`Host` without its port, lower-case; IPv6 literals lose their brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _with_port(netloc: str, scheme: str) -> str:
    """host:port with the scheme's default port made explicit, for comparing origins."""
    netloc = netloc.lower()
    if netloc.endswith("]") or ":" not in netloc.rsplit("]", 1)[-1]:
        return f"{netloc}:{443 if scheme == 'https' else 80}"
    return netloc


def _refuse(status: int, message: str) -> flask.Response:
    if flask.request.path == "/api" or flask.request.path.startswith(API_PREFIX):
        response = flask.jsonify({"error": message})
        response.status_code = status
        return response
    return flask.Response(message + "\n", status, mimetype="text/plain")


def _host_problem(allowed: tuple[str, ...]) -> str | None:
    if "*" in allowed:
        return None
    host = flask.request.headers.get("Host", "")
    if _hostname(host) in allowed:
        return None
    shown = repr(host[:80]) if host else "missing"
    return (
        f"this dashboard does not answer for the host name {shown}; it answers for "
        f"{', '.join(allowed)} (CNNLENS_ALLOWED_HOSTS)"
    )


def _origin_problem() -> str | None:
    headers = flask.request.headers
    site = headers.get("Sec-Fetch-Site", "").strip().lower()
    if site in FOREIGN_SITES:
        return f"requests from other sites cannot change anything here (Sec-Fetch-Site: {site})"
    origin = headers.get("Origin")
    if origin is None:
        return None
    parts = urlsplit(origin.strip())
    host = headers.get("Host", "")
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or _with_port(parts.netloc, parts.scheme) != _with_port(host, parts.scheme)
    ):
        return (
            f"requests from another origin ({origin[:80]!r}) cannot change anything here; "
            "use the dashboard's own pages, the API from a script, or the cnnlens command"
        )
    return None


def _api_write_problem() -> str | None:
    request = flask.request
    if request.is_json or request.headers.get(CUSTOM_HEADER, "").strip():
        return None
    sent_as = request.mimetype or "no Content-Type"
    return (
        "a request that changes something must be sent with 'Content-Type: application/json' "
        f"(even with an empty body) or with the header '{CUSTOM_HEADER}' (it was sent as "
        f"{sent_as})"
    )


def install_guard(server: flask.Flask, settings: Settings) -> None:
    """Check every request's host and, for writes, where it comes from; forbid framing."""
    allowed = settings.allowed_hosts

    @server.before_request
    def _guard():
        request = flask.request
        # Health checks (compose, a load balancer, a probe) come by IP address; the answer only
        # says whether the broker and the store are reachable.
        health = request.path == HEALTH and request.method in ("GET", "HEAD")
        problem = None if health else _host_problem(allowed)
        if problem:
            return _refuse(400, problem)
        if request.method not in WRITES:
            return None
        problem = _origin_problem()
        if problem:
            return _refuse(403, problem)
        if request.path.startswith(API_PREFIX):
            problem = _api_write_problem()
            if problem:
                return _refuse(415, problem)
        return None

    @server.after_request
    def _no_framing(response: flask.Response) -> flask.Response:
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    # Run before every other check (the login included): a request for another host name or
    # from another site is refused whatever it carries.
    server.before_request_funcs.setdefault(None, [])
    funcs = server.before_request_funcs[None]
    funcs.insert(0, funcs.pop(funcs.index(_guard)))
