"""The dashboard's words in English and Spanish: one JSON catalogue per language.

`t("runs.title")` is the string in the language of the current request: the `cnnlens_lang` cookie
(the navbar's EN | ES switch sets it, see `register_switch`), else the browser's Accept-Language,
else English. Dash page layouts and callbacks run inside Flask requests from the same browser, so
they all speak the user's language without a parameter threaded through every function. Outside a
request (a test calling a pure builder, the app building itself) the language is English.

The JSON API stays English: it is a programming interface, and its messages are read by scripts.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask

LANGS = ("en", "es")
DEFAULT = "en"
COOKIE = "cnnlens_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
LOCALES = Path(__file__).parent.parent / "locales"

log = logging.getLogger(__name__)
_reported: set[tuple[str, str]] = set()


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every key → string of one language (read once per process)."""
    return json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))


def current_lang() -> str:
    """The language of the request being served: cookie, then Accept-Language, then English."""
    if not flask.has_request_context():
        return DEFAULT
    chosen = flask.request.cookies.get(COOKIE, "")
    if chosen in LANGS:
        return chosen
    return flask.request.accept_languages.best_match(LANGS) or DEFAULT


def lookup(key: str, lang: str) -> str:
    """The string for `key` in `lang`; English when that language lacks it, else the key itself."""
    for source in (lang, DEFAULT):
        text = catalogue(source).get(key)
        if text is not None:
            if source != lang and (key, lang) not in _reported:
                _reported.add((key, lang))
                log.warning("no %s text for %r; showing English", lang, key)
            return text
    if (key, "") not in _reported:
        _reported.add((key, ""))
        log.warning("no text at all for %r", key)
    return key


def t(key: str, **values: Any) -> str:
    """The current language's string for `key`, with its {placeholders} filled from `values`."""
    text = lookup(key, current_lang())
    return text.format(**values) if values else text


def tn(key: str, count: int, **values: Any) -> str:
    """Like t() for a sentence about `count` things: `key.one` for 1, `key.other` otherwise."""
    return t(f"{key}.{'one' if count == 1 else 'other'}", count=count, **values)


def has(key: str) -> bool:
    return key in catalogue(DEFAULT)


def number(text: str) -> str:
    """A number formatted the English way (1,234.5) written the current language's way."""
    if current_lang() != "es":
        return text
    # Spanish: a comma before the decimals, a point between thousands (43.530 · 97,5).
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _safe_next(referrer: str | None) -> str:
    """Where to go back after switching: the page the switch was clicked on, same site only."""
    if not referrer:
        return "/"
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc != flask.request.host:
        return "/"
    path = parts.path if parts.path.startswith("/") and not parts.path.startswith("//") else "/"
    return (
        path
        + (f"?{parts.query}" if parts.query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def register_switch(server: flask.Flask) -> None:
    """GET /lang/<code> remembers the language in a cookie and reloads the page it came from.

    A plain link and a server-set cookie: it works from every page, with or without Dash's
    JavaScript, and every later page and callback of that browser uses the new language.
    """

    @server.get("/lang/<code>")
    def _switch_language(code: str):
        response = flask.redirect(_safe_next(flask.request.referrer), code=303)
        if code in LANGS:
            response.set_cookie(COOKIE, code, max_age=COOKIE_MAX_AGE, samesite="Lax", path="/")
        return response
