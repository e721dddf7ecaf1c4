"""The Dash app: pages from dashboard/pages, a navbar, cross-page stores, the JSON API.

`create_app()` builds everything; nothing connects at import time. Bootstrap's CSS and Plotly's JS
are served from this process (dashboard/assets and Dash's bundles), so the app works offline.
"""

from __future__ import annotations

import base64
import hmac
import logging

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, dcc, html

from dashboard import state
from dashboard.api.guard import install_guard
from dashboard.api.routes import register_api
from dashboard.ui import components, i18n
from dashboard.ui.i18n import t
from dashboard.ui.page_callbacks import forget_unclaimed_page_callbacks
from shared.settings import Settings, get_settings
from shared.store import RunStore

log = logging.getLogger(__name__)

NAV_PAGES = (
    ("nav.runs", "/"),
    ("nav.new", "/new"),
    ("nav.import", "/import"),
    ("nav.sweep", "/sweep"),
    ("nav.compare", "/compare"),
    ("nav.datasets", "/datasets"),
    ("nav.glossary", "/glossary"),
)


def language_switch() -> html.Div:
    """EN | ES: plain links to /lang/<code>, which sets the cookie and reloads this page."""
    lang = i18n.current_lang()
    links: list = []
    for code in i18n.LANGS:
        if links:
            links.append(html.Span("|", className="lens-lang-sep"))
        links.append(
            html.A(
                code.upper(),
                href=f"/lang/{code}",
                id=f"app-lang-{code}",
                title=t(f"lang.{code}"),
                lang=code,
                className="lens-lang" + (" active" if code == lang else ""),
            )
        )
    return html.Div(links, className="lens-lang-switch", title=t("lang.switch"))


def navbar() -> dbc.Navbar:
    """Brand and links; a link shows only when its page is registered (Compare comes later)."""
    paths = {page["path"] for page in dash.page_registry.values()}
    links = [
        dbc.NavItem(dbc.NavLink(t(key), href=href, active="exact", class_name="lens-navlink"))
        for key, href in NAV_PAGES
        if href in paths
    ]
    brand = dcc.Link(
        [html.Span("◧", className="lens-logo"), "CNN Lens"],
        href="/",
        className="navbar-brand lens-brand",
    )
    return dbc.Navbar(
        dbc.Container(
            [
                brand,
                dbc.Nav(links, navbar=True, class_name="me-auto"),
                html.Span(id="app-broker", className="lens-broker"),
                language_switch(),
            ],
            fluid=True,
            class_name="lens-nav-inner",
        ),
        color="dark",
        dark=True,
        expand=True,
        class_name="lens-navbar",
    )


def flash_toast(flash: dict | None):
    """A message handed over from one page to the next (e.g. 'run deleted')."""
    if not flash or not flash.get("message"):
        return None
    return dbc.Toast(
        flash["message"],
        header=flash.get("title", "CNN Lens"),
        is_open=True,
        duration=6000,
        dismissable=True,
        icon=flash.get("color", "primary"),
        class_name="lens-toast",
    )


def broker_badge(ok: bool):
    if ok:
        return None
    return dbc.Badge(
        t("app.broker.offline"),
        color="warning",
        text_color="dark",
        pill=True,
        title=t("app.broker.offline_help"),
    )


# Answered without the login: compose's health checks (and a proxy's) know no password, and the
# answer says only whether the broker and the store are reachable.
LOGIN_EXEMPT = ("/api/health",)


def _install_basic_auth(server: flask.Flask, settings: Settings) -> None:
    """Optional HTTP Basic login for lab deployments (needs TLS in front when exposed).

    Only one of the two settings is a mistake that would leave the dashboard open: refused.
    """
    problem = settings.auth_problem()
    if problem:
        raise RuntimeError(problem)
    user, password = settings.auth_user, settings.auth_password
    if not (user and password):
        return
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    @server.before_request
    def _require_login():
        if flask.request.path in LOGIN_EXEMPT and flask.request.method in ("GET", "HEAD"):
            return None
        given = flask.request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return flask.Response(
                "Login required", 401, {"WWW-Authenticate": 'Basic realm="CNN Lens"'}
            )
        return None


class LensDash(dash.Dash):
    """Dash with <html lang> set to the language the page is served in (screen readers,
    hyphenation, the browser's spell checker and its offer to translate depend on it)."""

    def interpolate_index(self, **kwargs):
        page = super().interpolate_index(**kwargs)
        return page.replace("<html>", f'<html lang="{i18n.current_lang()}">', 1)


def root_layout() -> html.Div:
    """The frame around every page, built per page load so the navbar speaks its language."""
    return html.Div(
        [
            dcc.Store(id="app-flash"),  # {"message", "title", "color", "t"}: shown once as a toast
            dcc.Interval(id="app-clock", interval=5000),  # slow, cross-page: broker status
            navbar(),
            dbc.Container(dash.page_container, fluid=True, class_name="lens-main"),
            html.Div(id="app-toast", className="lens-toast-holder"),
        ],
        className="lens-root",
    )


def _callback_failed(error: Exception) -> None:
    """Every callback's last resort (Dash's on_error): an input it could not use (a crafted
    request, a value no widget sends) is logged and answered with a toast, never a 500. The
    callback's outputs stay as they were."""
    log.error("callback failed on its input", exc_info=error)
    dash.set_props("app-flash", {"data": components.flash(t("app.callback_failed"), "warning")})


def create_app(store: RunStore | None = None) -> dash.Dash:
    if store is not None:
        state.set_store(store)
    settings = store.settings if store is not None else get_settings()
    forget_unclaimed_page_callbacks()
    app = LensDash(
        "dashboard",  # the package: pages import as dashboard.pages.<name>
        use_pages=True,
        pages_folder="pages",
        assets_folder="assets",
        serve_locally=True,
        external_stylesheets=[],
        title="CNN Lens",
        update_title="",  # keep the tab title still while intervals poll
        suppress_callback_exceptions=True,
        on_error=_callback_failed,
    )
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    _install_basic_auth(server, settings)
    install_guard(server, settings)
    register_api(server, store or state.get_store())
    i18n.register_switch(server)
    app.layout = root_layout

    @app.callback(Output("app-toast", "children"), Input("app-flash", "data"))
    def _show_flash(flash):
        return flash_toast(flash)

    @app.callback(Output("app-broker", "children"), Input("app-clock", "n_intervals"))
    def _show_broker(_n):
        state.mark_dead_runs()
        return broker_badge(state.broker_ok())

    return app
