"""Glossary: the words of CNNs in plain language, one anchor per term (/glossary#relu)."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, clientside_callback, dcc, html

from dashboard.ui import glossary
from dashboard.ui.components import term_link
from dashboard.ui.i18n import t

dash.register_page(
    __name__,
    path="/glossary",
    name="Glossary",
    title=lambda **_: t("glossary.tab_title"),
    order=4,
)


def anchor_id(term_id: str) -> str:
    """The element id of a term's entry; the address says #<term id>, the page scrolls to it."""
    return f"glossary-{term_id}"


def entry(term_id: str, term: glossary.Term) -> html.Div:
    see_also: list[Any] = []
    for other in term.related:
        see_also += [", " if see_also else "", term_link(glossary.TERMS[other].title, other)]
    return html.Div(
        [
            html.H4(
                [
                    term.title,
                    dcc.Link("#", href=glossary.href(term_id), className="lens-glossary-hash"),
                ],
                className="lens-glossary-title",
            ),
            html.P(term.short, className="lens-glossary-short"),
            html.P(term.long, className="lens-glossary-long"),
            html.Div([t("glossary.see_also"), *see_also], className="lens-faint")
            if see_also
            else None,
        ],
        id=anchor_id(term_id),
        className="lens-glossary-entry",
    )


def index() -> html.Div:
    links: list[Any] = []
    for term_id, term in sorted(glossary.TERMS.items(), key=lambda kv: kv[1].title.lower()):
        links += [" · " if links else "", term_link(term.title.split(" (")[0], term_id)]
    return html.Div(links, className="lens-glossary-index")


def layout(**_query: Any) -> html.Div:
    terms = list(glossary.TERMS.items())  # in reading order: from "CNN" to comparing runs
    return html.Div(
        [
            html.Div(
                html.Div(
                    [
                        html.H2(t("glossary.title"), className="lens-title"),
                        html.P(t("glossary.intro"), className="lens-subtitle"),
                    ]
                ),
                className="lens-page-head",
            ),
            dbc.Card(dbc.CardBody(index()), class_name="lens-card"),
            dbc.Card(
                dbc.CardBody([entry(term_id, term) for term_id, term in terms]),
                class_name="lens-card",
            ),
            dcc.Location(id="glossary-location"),
            dcc.Store(id="glossary-shown"),
        ]
    )


# Scroll to the entry the address names and mark it; the browser's own jump to #relu happens
# before Dash has drawn the page, so it cannot do this by itself.
clientside_callback(
    """
    function (hash) {
        const id = decodeURIComponent((hash || "").replace(/^#/, ""));
        document.querySelectorAll(".lens-glossary-entry.lens-target")
            .forEach((el) => el.classList.remove("lens-target"));
        if (!id) { return id; }
        setTimeout(() => {
            const el = document.getElementById("glossary-" + id);
            if (el) {
                el.classList.add("lens-target");
                el.scrollIntoView({block: "start"});
            }
        }, 30);
        return id;
    }
    """,
    Output("glossary-shown", "data"),
    Input("glossary-location", "hash"),
)
