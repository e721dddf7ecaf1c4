"""The compare page's ablation card: how much one conv layer of each run relies on its filters.

For the layer picked (by name: conv2d_1, conv2d_2, … exist in every run that has that many conv
layers), each run's curve is the test accuracy as the layer's filters are zeroed, most important
first, from the `ablation` analysis job (worker/ablation_curve.py), one per run and layer. The
curves share one axis, the fraction of the layer's filters removed, so layers of different
widths overlay. The jobs are asked for and followed with the page's other jobs (`page_status.status`,
`compare/wait.py`); this module only reads what they cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.compare import charts, page_status
from dashboard.service import analysis_jobs, comparisons
from dashboard.ui import components, figures
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from shared import comparison
from shared.store import RunStore

TOP = 3  # most important filters named (and linked) per run under the figure
CHANCE_COLOR = "#9ca3af"


def layer_names(runs: list[dict[str, Any]]) -> list[str]:
    """Every conv layer name of the runs, in model order (conv2d_1 first)."""
    names: list[str] = []
    for run in runs:
        names += [info.name for info in comparisons.conv_layers(run) if info.name not in names]
    return sorted(names, key=lambda name: (len(name), name))


def layer_options(runs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One option per conv layer name, saying how many filters it has in each run."""
    options = []
    for name in layer_names(runs):
        widths = []
        for i, run in enumerate(runs):
            info = next((c for c in comparisons.conv_layers(run) if c.name == name), None)
            widths.append(f"{charts.letter(i)} {info.output_shape[-1] if info else '–'}")
        options.append(
            {
                "label": t("compare.ablation.option", layer=name, widths=", ".join(widths)),
                "value": name,
            }
        )
    return options


def runs_layers(run: dict[str, Any]) -> list[str]:
    return [info.name for info in comparisons.conv_layers(run)]


def default_layer(runs: list[dict[str, Any]]) -> str | None:
    """The first conv layer every run has (else the first of any), as the filters card starts."""
    names = layer_names(runs)
    shared = [name for name in names if all(name in runs_layers(run) for run in runs)]
    first = shared or names
    return first[0] if first else None


def chosen_layer(runs: list[dict[str, Any]], value: Any) -> str | None:
    """The picker's value when it names a conv layer of these runs (it comes from the browser),
    else None: no file name is ever made from anything else."""
    return value if isinstance(value, str) and value in layer_names(runs) else None


def card(runs: list[dict[str, Any]]) -> dbc.Card:
    picker = html.Div(  # in a Div: a component without children is falsy, and tools would drop it
        dbc.Select(
            id="cmp-abl-layer",
            options=layer_options(runs),
            value=default_layer(runs),
            size="sm",
            class_name="w-auto",
        )
    )
    return components.section(
        t("compare.ablation.title"),
        html.Div(
            [
                graph("cmp-abl", figures.empty_figure("…")),
                html.Ul(id="cmp-abl-summary", className="lens-cmp-summary"),
                html.Div(id="cmp-abl-caption", className="lens-faint"),
            ]
        ),
        components.tr("compare.ablation.help"),
        tools=picker,
    )


# --- the figure ------------------------------------------------------------------------------------


def curves_figure(curves: Sequence[tuple[str, str, dict[str, Any]]]) -> Any:
    """Accuracy against the fraction of the layer's filters removed, one line per run, and the
    chance level (1 / classes) dotted. `curves` holds (label, colour, result) per run, a result
    as `analysis/ablation/<layer>.json` holds it. A plain figure dict, like the page's others."""
    data: list[dict[str, Any]] = []
    chance: float | None = None
    for label, color, result in curves:
        points = result.get("points") or []
        if not points:
            continue
        name = figures.plotly_text(label)  # a run's name: text, never Plotly's markup
        filters = int(result.get("filters") or 0)
        data.append(
            {
                "type": "scatter",
                "x": [p["fraction"] for p in points],
                "y": [p["accuracy"] for p in points],
                "customdata": [[p["removed"], filters] for p in points],
                "name": name,
                "mode": "lines+markers",
                "line": {"color": color, "width": 2},
                "marker": {"size": 5 if len(points) <= 33 else 3},
                "hovertemplate": t("compare.fig.ablation_hover", label=name),
            }
        )
        classes = int(result.get("classes") or 0)
        if classes > 1:
            chance = 1.0 / classes if chance is None else max(chance, 1.0 / classes)
    if not data:
        return figures.empty_figure(t("compare.ablation.no_curve"))
    if chance is not None:
        data.append(
            {
                "type": "scatter",
                "x": [0, 1],
                "y": [chance, chance],
                "name": t("compare.fig.chance", pct=figures.fmt_share(chance)),
                "mode": "lines",
                "line": {"color": CHANCE_COLOR, "dash": "dot", "width": 1.5},
                "hoverinfo": "skip",
            }
        )
    layout = {
        "template": figures.TEMPLATE.to_plotly_json(),
        "height": 380,
        "xaxis": {
            "title": {"text": t("compare.fig.filters_removed")},
            "tickformat": ".0%",
            "range": [-0.02, 1.02],
        },
        "yaxis": {
            "title": {"text": t("compare.fig.test_accuracy")},
            "tickformat": ".0%",
            "range": [0, 1.03],
        },
        "hovermode": "closest",
        "separators": t("fmt.plotly_separators"),  # 0,5 in Spanish
        "legend": {"orientation": "h", "y": -0.22, "x": 0.5, "xanchor": "center", "yanchor": "top"},
        "margin": {"l": 56, "r": 16, "t": 12, "b": 96},
    }
    return {"data": data, "layout": layout}


# --- reading the jobs' answers ---------------------------------------------------------------------


def _waiting_words(store: RunStore, run_id: str, layer: str) -> str:
    """What a run's pending curve is doing: queued, or computing and how far it has got."""
    job = store.get_job(comparison.ablation_job_id(run_id, layer))
    if job is None or job["status"] == "queued":
        return t("compare.ablation.queued")
    progress = job.get("progress")
    if progress is None:
        return t("compare.ablation.computing")
    return t("compare.ablation.progress", pct=components.fmt_pct(float(progress), 0))


def _summary(i: int, run: dict[str, Any], layer: str, result: dict[str, Any]) -> html.Li:
    """One run's line: "A · name: 96.1% as trained; without its 3 most important filters (10, 3,
    13) 90.5%; with the whole layer switched off 9.1%.", each filter number a link to its page."""
    points = {p["removed"]: p["accuracy"] for p in result.get("points") or []}
    order = list(result.get("order") or [])
    top = order[:TOP]
    links: list[Any] = []
    for j, k in enumerate(top):
        links += [", "] if j else []
        links.append(dcc.Link(str(k), href=f"/run/{run['id']}/filter/{layer}/{k}"))  # pages/filter
    without = points.get(len(top))
    words: list[Any] = [
        html.B(f"{charts.letter(i)} · {run['name']}: "),
        t("compare.ablation.as_trained", acc=components.fmt_pct(points.get(0), 1)),
    ]
    if top and without is not None and len(top) < len(order):
        words += [
            t("compare.ablation.without_top", n=len(top)),
            *links,
            t("compare.ablation.without_top_acc", acc=components.fmt_pct(without, 1)),
        ]
    words.append(t("compare.ablation.all_off", acc=components.fmt_pct(points.get(len(order)), 1)))
    return html.Li(words)


def view(
    store: RunStore, runs: list[dict[str, Any]], value: Any, state: dict[str, Any] | None
) -> tuple[Any, list[Any], str]:
    """(the figure, one line per run, the caption) for the layer picked."""
    layer = chosen_layer(runs, value)
    if layer is None:
        return figures.empty_figure(t("compare.ablation.no_layer_at_all")), [], ""
    states = state.get("ablation") if isinstance(state, dict) else None
    states = states if isinstance(states, dict) else {}  # the page's own, but from a browser
    curves, lines, results = [], [], []
    for i, run in enumerate(runs):
        who = f"{charts.letter(i)} · {run['name']}"
        if layer not in runs_layers(run):
            lines.append(html.Li(t("compare.ablation.no_layer", who=who, layer=layer)))
            continue
        ready = states.get(f"{run['id']}:{layer}")
        pending = ready in (None, page_status.PENDING)
        readable = pending or ready == page_status.READY  # else the state is why there is none
        result = analysis_jobs.load_ablation(store, run["id"], layer) if readable else None
        if result is None:
            words = _waiting_words(store, run["id"], layer) if pending else message(str(ready))
            lines.append(html.Li(f"{who}: {words}"))
            continue
        color = charts.RUN_COLORS[i % len(charts.RUN_COLORS)]
        curves.append((who, color, result))
        results.append((who, result))
        lines.append(_summary(i, run, layer, result))
    figure = curves_figure(curves) if curves else figures.empty_figure(t("compare.ablation.wait"))
    return figure, lines, caption(results)


def caption(results: list[tuple[str, dict[str, Any]]]) -> str:
    if not results:
        return ""
    first = results[0][1]
    words = [
        t("compare.ablation.caption", n=first.get("test_images"), dataset=first.get("dataset"))
    ]
    proxy = [
        who for who, r in results if (r.get("importance") or {}).get("method") != "accuracy_drop"
    ]
    if proxy:
        words.append(t("compare.ablation.proxy", who=", ".join(proxy)))
    sampled = [who for who, r in results if not r.get("every_k", True)]
    if sampled:
        words.append(t("compare.ablation.sampled", who=", ".join(sampled)))
    return " ".join(words)
