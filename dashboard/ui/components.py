"""Small UI pieces shared by the pages: status badges, progress, formatting, cards."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.ui import glossary
from dashboard.ui.i18n import number, t
from shared.datasets import DATASETS, describe
from shared.store import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, SUCCEEDED

STATUS_COLORS = {
    QUEUED: "secondary",
    RUNNING: "primary",
    SUCCEEDED: "success",
    FAILED: "danger",
    CANCELLED: "dark",
    INTERRUPTED: "warning",
}
ACTIVE = (QUEUED, RUNNING, INTERRUPTED)
# A submit button's style while its click's request is in flight (a callback's `running`): it
# takes no more clicks, so a double click queues one run.
BUSY = {"pointerEvents": "none", "opacity": 0.65}


def status_badge(status: str, cancel_requested: bool = False) -> dbc.Badge:
    label = "cancelling" if cancel_requested and status == RUNNING else status
    return dbc.Badge(
        status_word(label),
        color=STATUS_COLORS.get(status, "secondary"),
        class_name="lens-status text-uppercase",
        pill=True,
    )


def dataset_name(key: str) -> str:
    """How a run's dataset is named in a line of facts: a built-in one by its key
    ('mnist-sample'), an imported one by the name it was given rather than its id."""
    info = describe(key) if key not in DATASETS else None
    return info.title if info is not None and info.imported else key


def dataset_title(key: str) -> str:
    """A dataset's long name in the page's language ('MNIST (70,000 digits)')."""
    info = DATASETS.get(key)
    return t(f"dataset.{key}") if info else key


def status_word(status: str) -> str:
    """A run state in the page's language ('queued' → 'en cola'); unknown states as they are."""
    key = f"status.{status}"
    return t(key) if status in STATUS_COLORS or status == "cancelling" else status


def fmt_pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return number(f"{value * 100:.{digits}f}") + t("fmt.percent_sign")


def fmt_num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else number(f"{value:.{digits}f}")


def fmt_int(value: int | None) -> str:
    return "—" if value is None else number(f"{value:,}")


def fmt_time(ts: float | None) -> str:
    return "—" if not ts else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def fmt_ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "—"
    secs = max(0.0, (now or time.time()) - ts)
    if secs < 60:
        return t("ago.now")
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            n = int(secs // size)
            what = (
                t("ago.days.one" if n == 1 else "ago.days.other", n=n)
                if unit == "day"
                else (f"{n} {unit}")
            )
            return t("ago.ago", what=what)
    return fmt_time(ts)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_text(run: dict[str, Any]) -> str:
    """'epoch 2/3' style words for a run's progress."""
    p = run.get("progress") or {}
    epochs = p.get("epochs") or (run.get("config") or {}).get("epochs") or 0
    epoch = p.get("epoch") or 0
    status = run.get("status")
    if status == QUEUED:
        return t("progress.waiting")
    if status == SUCCEEDED:
        return t("progress.done", epochs=epochs)
    if status == RUNNING:
        if epoch == 0:
            return t("progress.starting")
        step, steps = p.get("step") or 0, p.get("steps") or 0
        batch = t("progress.batch", step=step, steps=steps) if steps else ""
        return t("progress.epoch", epoch=epoch, epochs=epochs) + batch
    where = t("progress.in_epoch", epoch=epoch, epochs=epochs) if epoch else ""
    if status == INTERRUPTED:
        return t("progress.interrupted", where=where)
    return f"{status_word(str(status))}{where}"


def eta_text(run: dict[str, Any], now: float | None = None) -> str:
    """'about 3 min left' for a running run, from its elapsed time and progress fraction."""
    p = run.get("progress") or {}
    frac, started = float(p.get("fraction") or 0.0), run.get("started_at")
    if run.get("status") != RUNNING or not started or frac < 0.02 or frac >= 1:
        return ""
    left = ((now or time.time()) - started) * (1 - frac) / frac
    return t("eta.under_minute") if left < 60 else t("eta.about", time=fmt_duration(left))


def progress_bar(run: dict[str, Any], height: int = 8) -> dbc.Progress:
    p = run.get("progress") or {}
    status = run.get("status")
    value = 100.0 * float(p.get("fraction") or 0.0)
    running = status == RUNNING
    return dbc.Progress(
        value=max(value, 2.0) if status in (RUNNING, QUEUED) else value,
        color=STATUS_COLORS.get(str(status), "secondary"),
        striped=running or status == QUEUED,
        animated=running,
        style={"height": f"{height}px"},
        class_name="lens-progress",
    )


def job_progress_bar(fraction: float, height: int = 8) -> dbc.Progress:
    """How far a running job has got (its `progress`, from 0 to 1)."""
    return dbc.Progress(
        value=max(2.0, 100.0 * min(1.0, max(0.0, float(fraction)))),
        color="info",
        striped=True,
        animated=True,
        style={"height": f"{height}px"},
        class_name="lens-progress mt-1",
    )


def computing_caption(fraction: float, words: str = "attr.computing_progress") -> html.Div:
    """The caption of a result being computed: how far its job has got, in words (the text `words`
    with the share done as {pct}) and a bar."""
    return html.Div(
        [
            html.Span(t(words, pct=fmt_pct(fraction, 0)), className="text-muted"),
            job_progress_bar(fraction),
        ]
    )


def term_link(label: str, term_id: str) -> dcc.Link:
    """A word in an explanation that leads to its glossary entry (its short meaning on hover)."""
    return dcc.Link(
        label,
        href=glossary.href(term_id),
        title=glossary.TERMS[term_id].short,  # in the page's language
        className="lens-term",
    )


_TERM = re.compile(r"\[([^\]]+)\]\(([a-z-]+)\)")


def rich(text: str) -> list[Any]:
    """A catalogue sentence with its glossary links: "[feature maps](feature-map)" becomes a
    term_link, the rest stays text. The link words sit inside the sentence, so each language
    keeps its own word order."""
    out: list[Any] = []
    last = 0
    for match in _TERM.finditer(text):
        if match.start() > last:
            out.append(text[last : match.start()])
        out.append(term_link(match.group(1), match.group(2)))
        last = match.end()
    if last < len(text):
        out.append(text[last:])
    return out


def tr(key: str, **values: Any) -> list[Any]:
    """t() with glossary links: the current language's sentence for `key`, as components."""
    return rich(t(key, **values))


def graph_config(filename: str = "cnnlens", interactive: bool = False) -> Any:
    """Plotly's toolbar for every graph: "Download plot as PNG" always (it runs in the browser,
    offline); zoom, pan and the rest only on interactive graphs."""
    config: dict[str, Any] = {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }
    if interactive:
        config["modeBarButtonsToRemove"] = ["select2d", "lasso2d"]
    else:
        config["modeBarButtons"] = [["toImage"]]
    return config


def explain(text: Any) -> html.P:
    """The short sentence under a view that says what it shows and how to read it."""
    return html.P(text, className="lens-help")


def section(
    title: str, body: Any, help_text: Any = None, tools: Any = None, class_name: str = ""
) -> dbc.Card:
    header = html.Div(
        [
            html.H5(title, className="lens-card-title"),
            html.Div(tools, className="lens-card-tools") if tools else None,
        ],
        className="lens-card-header",
    )
    children: list[Any] = [header]
    if help_text:
        children.append(explain(help_text))
    # A list body joins the card's children: Dash does not render a list nested in a list.
    children.extend(body if isinstance(body, list) else [body])
    return dbc.Card(dbc.CardBody(children), class_name=f"lens-card {class_name}".strip())


def stat(label: str, value: Any, hint: str | None = None) -> html.Div:
    return html.Div(
        [
            html.Div(label, className="lens-stat-label"),
            html.Div(value, className="lens-stat-value"),
            html.Div(hint, className="lens-stat-hint") if hint else None,
        ],
        className="lens-stat",
    )


def message_page(title: str, text: str, link_text: str = "", href: str = "/") -> html.Div:
    return html.Div(
        dbc.Card(
            dbc.CardBody(
                [
                    html.H3(title, className="mb-2"),
                    html.P(text, className="text-muted"),
                    dcc.Link(
                        link_text or t("common.back_to_runs"),
                        href=href,
                        className="btn btn-primary",
                    ),
                ]
            ),
            class_name="lens-card lens-message mx-auto",
        ),
        className="py-5",
    )


def select_options(values: list[Any], labels: list[str] | None = None) -> list[dict[str, Any]]:
    labels = labels or [str(v) for v in values]
    return [{"label": lab, "value": val} for val, lab in zip(values, labels, strict=True)]


def flash(message: str, color: str = "primary", title: str = "CNN Lens") -> dict[str, Any]:
    """The data a page writes into 'app-flash' to show a toast after navigating."""
    return {"message": message, "color": color, "title": title, "t": time.time()}


def graph(gid: str, figure: Any, static: bool = True) -> dcc.Graph:
    return dcc.Graph(
        id=gid,
        figure=figure,
        config=graph_config(f"cnnlens-{gid}", interactive=not static),
        className="lens-graph",
    )
