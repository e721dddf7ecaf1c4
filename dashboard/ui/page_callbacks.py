"""Registering callbacks with Dash's pages: the one module that relies on how Dash keeps them.

Dash imports the page modules again for every app it builds, so a page's `@callback`s register
once per app (`forget_unclaimed_page_callbacks` clears the ones an earlier app left unclaimed).
A helper module is imported once per process: its module-level `@callback`s would reach the
first app only. Such a module collects its callbacks in a `PageCallbacks` instead, and its page
calls `register()`.
The functions stay plain, so tests call them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash

Fn = Callable[..., Any]


class PageCallbacks:
    def __init__(self) -> None:
        self._pending: list[tuple[tuple[Any, ...], dict[str, Any], Fn]] = []
        self._clientside: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *dependencies: Any, **options: Any) -> Callable[[Fn], Fn]:
        """`@callbacks(Output(...), Input(...), ...)`: what `dash.callback` takes, kept for later."""

        def keep(fn: Fn) -> Fn:
            self._pending.append((dependencies, options, fn))
            return fn

        return keep

    def clientside(self, function: str, *dependencies: Any, **options: Any) -> None:
        """What `dash.clientside_callback` takes (a JavaScript function's text), kept for later."""
        self._clientside.append((function, dependencies, options))

    def register(self) -> None:
        """Hand every kept callback to Dash (the page module calls this as Dash imports it)."""
        for dependencies, options, fn in self._pending:
            dash.callback(*dependencies, **options)(fn)
        for function, dependencies, options in self._clientside:
            dash.clientside_callback(function, *dependencies, **options)


def forget_unclaimed_page_callbacks() -> None:
    """Drop page callbacks an earlier app in this process registered but never served.

    Dash re-imports the page modules for every app and their `@callback`s wait in module globals
    until an app's first request claims them; a second app (tests build several) would otherwise
    inherit the first one's copies and the browser would see every callback twice. Dash offers no
    public way to do this, so this reaches into `dash._callback`; tests/test_page_callbacks.py
    fails loudly if Dash renames or reshapes what is used here.
    """
    from dash import _callback

    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_CALLBACK_MAP.clear()
