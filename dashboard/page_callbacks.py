"""Callbacks that live outside a page module but must be registered with it.

Dash imports the page modules again for every app it builds (app.py clears the callbacks an
earlier app left unclaimed), so a page's `@callback`s register once per app. A helper module is
imported once per process: its module-level `@callback`s would reach the first app only. Such
a module collects its callbacks in a `PageCallbacks` instead, and its page calls `register()`.
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

    def __call__(self, *dependencies: Any, **options: Any) -> Callable[[Fn], Fn]:
        """`@callbacks(Output(...), Input(...), ...)`: what `dash.callback` takes, kept for later."""

        def keep(fn: Fn) -> Fn:
            self._pending.append((dependencies, options, fn))
            return fn

        return keep

    def register(self) -> None:
        """Hand every kept callback to Dash (the page module calls this as Dash imports it)."""
        for dependencies, options, fn in self._pending:
            dash.callback(*dependencies, **options)(fn)
