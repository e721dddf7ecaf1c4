"""The run page's management pieces: the title with its rename button, tags and notes, their
editor, the Retry button and the delete dialog. Pure renders and the callbacks' bodies;
run/action_callbacks.py wires them.

Names, tags and notes are user text: they go into the page as text nodes (Dash escapes them),
never as markup or Markdown.
"""

from __future__ import annotations

import re
from typing import Any

import dash_bootstrap_components as dbc
from dash import html, no_update

from dashboard.service import run_actions
from dashboard.ui import components
from dashboard.ui.i18n import t
from dashboard.ui.messages import config_errors_text, message
from shared.config import ConfigError
from shared.housekeeping import QueueFull
from shared.idempotency import IdempotencyConflict, derived_key
from shared.store import RunStore


def retry_class(status: str | None) -> str:
    return "" if status in run_actions.RETRYABLE else "d-none"


def retry_button(run: dict[str, Any]) -> dbc.Button:
    return dbc.Button(
        t("manage.retry"),
        id="run-retry",
        color="primary",
        outline=True,
        size="sm",
        title=t("manage.retry_help"),
        class_name=retry_class(run["status"]),
    )


def title(run: dict[str, Any]) -> list[Any]:
    return [
        html.H2(run["name"], id="run-title", className="lens-title me-2"),
        dbc.Button(
            "✎",
            id="run-rename",
            color="link",
            size="sm",
            title=t("manage.rename_help"),
            class_name="lens-rename p-0 me-2",
        ),
    ]


def tag_badges(tags: list[str]) -> list[Any]:
    return [
        dbc.Badge(tag, color="light", text_color="dark", pill=True, class_name="lens-tag me-1")
        for tag in tags
    ]


def notes_text(notes: str) -> Any:
    # pre-wrap keeps the user's line breaks without turning the notes into markup.
    return (
        html.Div(notes, className="lens-notes", style={"whiteSpace": "pre-wrap"}) if notes else None
    )


def tags_and_notes(run: dict[str, Any]) -> html.Div:
    return html.Div(
        [
            html.Div(tag_badges(run.get("tags") or []), id="run-tags"),
            html.Div(notes_text(run.get("notes") or ""), id="run-notes"),
        ],
        className="lens-annotations",
    )


def editor(run: dict[str, Any]) -> dbc.Collapse:
    name = html.Div(
        [
            dbc.Label(t("form.name"), html_for="run-edit-name", class_name="small mb-1"),
            dbc.Input(
                id="run-edit-name", value=run["name"], maxLength=run_actions.MAX_NAME, size="sm"
            ),
        ]
    )
    tags = html.Div(
        [
            dbc.Label(t("run.edit.tags"), html_for="run-edit-tags", class_name="small mb-1"),
            dbc.Input(
                id="run-edit-tags",
                value=", ".join(run.get("tags") or []),
                placeholder="baseline, lr:0.01",
                size="sm",
            ),
        ]
    )
    notes = html.Div(
        [
            dbc.Label(t("run.edit.notes"), html_for="run-edit-notes", class_name="small mb-1 mt-2"),
            dbc.Textarea(
                id="run-edit-notes",
                value=run.get("notes") or "",
                maxLength=run_actions.MAX_NOTES,
                rows=3,
                size="sm",
            ),
        ]
    )
    return dbc.Collapse(
        dbc.Card(
            dbc.CardBody(
                [
                    dbc.Row([dbc.Col(name, md=5), dbc.Col(tags, md=7)], class_name="g-2"),
                    notes,
                    html.Div(
                        [
                            dbc.Button(
                                t("manage.save"), id="run-edit-save", color="primary", size="sm"
                            ),
                            html.Span(id="run-edit-message", className="ms-2 small"),
                        ],
                        className="mt-2 d-flex align-items-center",
                    ),
                ]
            ),
            class_name="lens-card mb-3",
        ),
        id="run-edit",
        is_open=False,
    )


def save(store: RunStore, run_id: str, name: Any, tags: Any, notes: Any) -> tuple:
    """(title, tag badges, notes, message) after saving the editor's fields."""
    keep = (no_update,) * 3
    changes = {"name": name or "", "tags": run_actions.parse_tags(tags), "notes": notes or ""}
    try:
        run = run_actions.annotate_run(store, run_id, changes)
    except ConfigError as exc:
        problems = config_errors_text(exc.errors)
        return (*keep, html.Span(t("manage.not_saved", problems=problems), className="text-danger"))
    if run is None:
        return (*keep, html.Span(t("run.deleted"), className="text-danger"))
    return (
        run["name"],
        tag_badges(run["tags"]),
        notes_text(run["notes"]),
        html.Span(t("manage.saved"), className="text-success"),
    )


def retry(store: RunStore, run_id: str, token: str | None = None) -> tuple[Any, dict[str, Any]]:
    """(where to go, toast) after Retry: the new run's page, or a message saying why not.

    With the page view's `token`, a double click retries once (one Idempotency-Key per view)."""
    key = derived_key("retry", token, run_id) if token else None
    try:
        new = run_actions.retry_run(store, run_id, idempotency_key=key)
    except IdempotencyConflict as exc:  # renamed between two clicks: the first retry stands
        return no_update, components.flash(message(str(exc)), "warning")
    except run_actions.RunStateError as exc:
        return no_update, components.flash(state_error(exc), "warning")
    except ConfigError as exc:
        reasons = "; ".join(message(e["message"]) for e in exc.errors)
        return no_update, components.flash(t("manage.cannot_retry", reasons=reasons), "warning")
    except QueueFull as exc:
        return no_update, components.flash(message(str(exc)), "warning")
    if new is None:
        return "/", components.flash(t("run.deleted"), "secondary")
    note = f" ({message(new['warning'])})" if new.get("warning") else ""
    return f"/run/{new['id']}", components.flash(t("manage.retried", note=note), "primary")


def state_error(exc: Exception) -> str:
    """The service's 'cannot retry a running run' in the page's language."""
    match = re.match(r"run \S+ is (\w+); only", str(exc))
    if match:
        return t("manage.not_retryable", status=components.status_word(match.group(1)))
    return str(exc)


def delete_modal(run: dict[str, Any]) -> dbc.Modal:
    """The "Delete this run?" dialog (closed) that the Delete button opens."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(t("run.delete.title"))),
            dbc.ModalBody(
                [
                    t("run.delete.quote_open"),
                    run["name"],
                    t("run.delete.text"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(t("run.delete.keep"), id="run-delete-dismiss", color="light"),
                    dbc.Button(t("run.delete.confirm"), id="run-delete-confirm", color="danger"),
                ]
            ),
        ],
        id="run-delete-modal",
        is_open=False,
        centered=True,
    )
