"""The page of one filter (/run/<id>/filter/<layer>/<k>): its weights after every epoch at once,
then, from the analysis job, what it responds to (top test images with their receptive fields,
an activation-maximisation picture, its mean activation per class), what it is worth (the
accuracy without it), whether it is dead or a near-duplicate, and its twins in other runs.

The layout is built from the store; the job's part is filled in by `analysis_view`, which the
page's polling callback calls until the job has finished. Pure: store and arguments in,
components and figures out. Also the links to a filter's page from the run page's filter tiles
and feature maps.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html
from PIL import Image, ImageDraw

from dashboard.service import analysis_jobs, comparisons, run_data
from dashboard.state import get_store
from dashboard.ui import components, figures
from dashboard.ui.i18n import t
from dashboard.ui.montage import normalize, png_data_uri
from dashboard.ui.page_callbacks import PageCallbacks
from shared import comparison
from shared.datasets import DatasetUnavailable, load_raw
from shared.queue import BrokerUnavailable
from shared.store import FAILED, RUNNING, SUCCEEDED, RunStore

callbacks = PageCallbacks()  # the filter page's (pages/filter.py registers them)
links = PageCallbacks()  # the run page's links to filter pages (pages/run.py registers them)

POLL_MS = 1000
GIVE_UP_POLLS = 330  # about the analysis jobs' hard time limit, and a margin
SCALE = 5  # input pixels → screen pixels for test images and the picture
BOX_COLOUR = (239, 68, 68)


def href(run_id: str, layer: str, k: int) -> str:
    return f"/run/{run_id}/filter/{layer}/{k}"


# --- pictures --------------------------------------------------------------------------------------


def outlined(image: np.ndarray, box: list[int], scale: int = SCALE) -> str:
    """A test image (h, w) or (h, w, 3), enlarged, with the receptive field `box` (half-open
    [row0, col0, row1, col1] in input pixels) outlined, as a PNG data URI."""
    arr = np.asarray(image, dtype=np.uint8)
    rgb = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr[..., :3]
    big = Image.fromarray(rgb.repeat(scale, axis=0).repeat(scale, axis=1))
    r0, c0, r1, c1 = (int(v) for v in box)
    ImageDraw.Draw(big).rectangle(
        [c0 * scale, r0 * scale, c1 * scale - 1, r1 * scale - 1], outline=BOX_COLOUR, width=2
    )
    return png_data_uri(np.asarray(big))


def epoch_tiles(stack: np.ndarray, k: int, scale: int = 12) -> list[tuple[int, str]]:
    """(epoch, PNG data URI) of filter k after every epoch, mean over input channels, on one
    gray scale for all epochs so that change shows (white = largest weight)."""
    planes = np.asarray(stack[..., k], dtype=np.float32)  # (E+1, kh, kw, cin)
    planes = planes.mean(axis=3)
    scaled = normalize(planes, per_tile=False)
    return [
        (e, png_data_uri((scaled[e] * 255).round().astype(np.uint8), scale))
        for e in range(len(planes))
    ]


def _figure_tile(src: str, caption: Any, href_: str | None = None, width: int = 112) -> html.Div:
    img = html.Img(src=src, width=width, className="d-block", style={"imageRendering": "pixelated"})
    return html.Div(
        [dcc.Link(img, href=href_) if href_ else img, html.Div(caption, className="small")],
        className="d-inline-block me-2 mb-2 text-center align-top",
    )


# --- figures ---------------------------------------------------------------------------------------


def selectivity_figure(rows: list[dict[str, Any]]) -> Any:
    names = [str(r["class"]) for r in rows]
    means = [r["mean"] for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": means,
                "marker": {"color": figures.NEUTRAL},
                "hovertemplate": t("filter.fig.selectivity_hover"),
            }
        ],
        "layout": {
            "template": figures.TEMPLATE,
            "height": 260,
            "xaxis": {"type": "category", "title": {"text": t("filter.fig.class")}},
            "yaxis": {"title": {"text": t("filter.fig.mean_activation")}},
            "margin": {"l": 56, "r": 10, "t": 10, "b": 48},
        },
    }


def ablation_figure(ablation: dict[str, Any]) -> Any:
    rows = ablation["per_class"]
    names = [str(r["class"]) for r in rows]
    bars = [
        ("accuracy", t("filter.fig.with"), figures.GOOD),
        ("accuracy_without", t("filter.fig.without"), figures.BAD),
    ]
    return {
        "data": [
            {
                "type": "bar",
                "name": label,
                "x": names,
                "y": [r[key] for r in rows],
                "marker": {"color": colour},
                "hovertemplate": "%{x}: %{y:.1%}<extra>" + label + "</extra>",
            }
            for key, label, colour in bars
        ],
        "layout": {
            "template": figures.TEMPLATE,
            "height": 260,
            "barmode": "group",
            "xaxis": {"type": "category", "title": {"text": t("filter.fig.class")}},
            "yaxis": {"tickformat": ".0%", "title": {"text": t("fig.accuracy")}},
            "legend": {"orientation": "h", "y": 1.12},
            "margin": {"l": 56, "r": 10, "t": 24, "b": 48},
        },
    }


# --- layout ----------------------------------------------------------------------------------------


def _filter_count(run: dict[str, Any], layer: str) -> int | None:
    try:
        return analysis_jobs.check_filter(run, layer, 0)
    except comparisons.NotComparable:
        return None


def layout(store: RunStore, run_id: str | None, layer: str | None, k: str | None) -> Any:
    run = store.get_run(run_id or "", with_history=False)
    if run is None:
        return components.message_page(t("run.not_found"), t("run.not_found_text"))
    count = _filter_count(run, layer or "")
    index = int(k) if k is not None and str(k).isdecimal() and len(str(k)) <= 4 else None
    back = href(run["id"], "", 0).rsplit("/filter", 1)[0]
    if count is None or index is None or not 0 <= index < count:
        convs = ", ".join(info.name for info in comparisons.conv_layers(run)) or "—"
        return components.message_page(
            t("filter.not_found"), t("filter.not_found_text", layers=convs), t("filter.back"), back
        )
    assert layer is not None
    neighbours = [
        dcc.Link(t("filter.previous"), href=href(run["id"], layer, index - 1), className="me-3")
        if index > 0
        else None,
        dcc.Link(t("filter.next"), href=href(run["id"], layer, index + 1))
        if index + 1 < count
        else None,
    ]
    header = html.Div(
        [
            dcc.Link(t("filter.back_to", name=run["name"]), href=back, className="small"),
            html.H2(t("filter.title", k=index, layer=layer), className="h4 mt-1"),
            html.Div([n for n in neighbours if n is not None], className="small mb-2"),
            components.explain(components.tr("filter.help")),
        ]
    )
    return html.Div(
        [
            header,
            weights_section(store, run, layer, index),
            html.Div(analysis_view(store, run, layer, index, ask=False)[0], id="filter-analysis"),
            dcc.Store(id="filter-key", data={"run_id": run["id"], "layer": layer, "k": index}),
            dcc.Interval(id="filter-interval", interval=POLL_MS, max_intervals=GIVE_UP_POLLS),
        ],
        className="lens-filter",
    )


def weights_section(store: RunStore, run: dict[str, Any], layer: str, k: int) -> Any:
    stack = store.files.load_array(run["id"], f"filters/epochs/{layer}.npy")
    if stack is None or stack.ndim != 5:
        body: Any = html.Div(t("filter.no_weights"), className="lens-faint")
    else:
        body = html.Div(
            [
                _figure_tile(src, t("filter.epoch", e=e) if e else t("filter.initial"), width=72)
                for e, src in epoch_tiles(stack, k)
            ]
        )
    return components.section(t("filter.weights"), body, components.tr("filter.weights_help"))


# --- the job's part --------------------------------------------------------------------------------


def analysis_view(
    store: RunStore, run: dict[str, Any], layer: str, k: int, ask: bool
) -> tuple[Any, bool]:
    """(components, done): the analysis when cached; else, with ask=True, the job is queued and
    a line says it is being computed (done=False, keep polling), or why it cannot be."""
    result = analysis_jobs.load_filter_analysis(store, run["id"], layer, k)
    if result is not None:
        return analysis_sections(store, run, result), True
    if run["status"] != SUCCEEDED:
        return _note(t("filter.not_trained")), True
    job = store.get_job(comparison.filter_job_id(run["id"], layer, k))
    if job is not None and job["status"] == FAILED and not ask:
        return _note(str(job.get("error") or t("filter.failed")), "danger"), True
    if ask:
        try:
            answer = analysis_jobs.request_filter_analysis(store, run, layer, k)
        except (comparisons.NotComparable, comparisons.NotReady) as exc:
            return _note(str(exc), "danger"), True
        except BrokerUnavailable:
            return _note(t("compare.state.queue_down"), "danger"), True
        if answer["status"] == "cached":
            return analysis_sections(store, run, answer["result"]), True
        job = store.get_job(comparison.filter_job_id(run["id"], layer, k))
    return computing_note(job), False


def computing_note(job: dict[str, Any] | None) -> Any:
    """What the page says while the job runs: how far it has got once it says (a bar and the
    share done), else that it is being computed."""
    fraction = job.get("progress") if job and job["status"] == RUNNING else None
    if fraction is None:
        return _note(t("filter.computing"))
    words = t("filter.computing_progress", pct=components.fmt_pct(float(fraction), 0))
    return dbc.Alert(
        [html.Div(words), components.job_progress_bar(float(fraction))],
        color="secondary",
        class_name="py-2",
    )


def _note(text: str, colour: str = "secondary") -> Any:
    return dbc.Alert(text, color=colour, class_name="py-2")


def _test_images(dataset: str) -> np.ndarray | None:
    try:
        return load_raw(dataset)[2]
    except DatasetUnavailable:
        return None


def analysis_sections(store: RunStore, run: dict[str, Any], result: dict[str, Any]) -> list[Any]:
    layer, k = result["layer"], int(result["filter"])
    images = _test_images(run["dataset"])
    classes = run_data.class_names(run)
    labels = load_raw(run["dataset"])[3] if images is not None else None
    tiles = []
    for rank, top in enumerate(result["top_images"], start=1):
        i = int(top["test_index"])
        caption = t(
            "filter.top_caption",
            rank=rank,
            index=i,
            label=classes[int(labels[i])]
            if labels is not None and int(labels[i]) < len(classes)
            else "?",
            value=f"{top['value']:.3g}",
        )
        if images is not None and 0 <= i < len(images):
            tiles.append(_figure_tile(outlined(images[i], top["box"]), caption))
    picture_src = _picture(store, run["id"], layer, k, result.get("activation_max_box"))
    top = components.section(
        t("filter.top", n=len(result["top_images"])),
        html.Div(tiles or t("filter.no_images")),
        components.tr("filter.top_help", rf=result["receptive_field"]),
    )
    maximised = components.section(
        t("filter.actmax"),
        html.Div(
            [
                _figure_tile(picture_src, t("filter.actmax_caption"), width=168)
                if picture_src
                else html.Div(t("filter.no_picture")),
                html.A(t("filter.download"), href=result["activation_max"], className="small"),
            ]
        ),
        components.tr("filter.actmax_help"),
    )
    selectivity = components.section(
        t("filter.selectivity"),
        [
            components.graph("filter-selectivity", selectivity_figure(result["selectivity"])),
            html.Div(_selectivity_words(result), className="small"),
        ],
        components.tr("filter.selectivity_help"),
    )
    ab = result["ablation"]
    worth = components.section(
        t("filter.ablation"),
        [
            html.Div(ablation_sentence(ab), className="mb-1"),
            components.graph("filter-ablation", ablation_figure(ab)),
        ],
        components.tr("filter.ablation_help"),
    )
    return [
        dbc.Row([dbc.Col(top, lg=8), dbc.Col(maximised, lg=4)], class_name="g-3"),
        dbc.Row([dbc.Col(selectivity, lg=6), dbc.Col(worth, lg=6)], class_name="g-3"),
        dbc.Row(
            [dbc.Col(flags_section(run, result), lg=5), dbc.Col(twins_section(run, result), lg=7)],
            class_name="g-3",
        ),
    ]


def _picture(
    store: RunStore, run_id: str, layer: str, k: int, box: list[int] | None, margin: int = 3
) -> str | None:
    """The activation-maximisation picture, cut to the receptive field it fills (and a margin),
    enlarged to about 168 pixels; the download keeps the whole input-sized image."""
    path = store.files.path(run_id, comparison.filter_rel(layer, k, "png"))
    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("L") if img.mode not in ("L", "RGB") else img)
    except (OSError, ValueError):
        return None
    if box and len(box) == 4:
        r0, c0, r1, c1 = (int(v) for v in box)
        h, w = pixels.shape[:2]
        pixels = pixels[
            max(0, r0 - margin) : min(h, r1 + margin), max(0, c0 - margin) : min(w, c1 + margin)
        ]
    scale = max(1, 168 // max(pixels.shape[:2]))
    return png_data_uri(np.ascontiguousarray(pixels).astype(np.uint8), scale)


def ablation_sentence(ablation: dict[str, Any], digits: int = 2) -> str:
    """What zeroing the filter did to the test accuracy, in words: a drop, a gain (accuracy rose
    without it, which a "drop of -0.05%" used to say), or no change at the digits shown."""
    acc, without = float(ablation["accuracy"]), float(ablation["accuracy_without"])
    shown = {
        "acc": components.fmt_pct(acc, digits),
        "without": components.fmt_pct(without, digits),
    }
    change = round((acc - without) * 100, digits)
    if change > 0:
        return t("filter.ablation_summary", drop=components.fmt_pct(acc - without, digits), **shown)
    if change < 0:
        return t(
            "filter.ablation_summary_gain", gain=components.fmt_pct(without - acc, digits), **shown
        )
    return t("filter.ablation_summary_same", **shown)


def _selectivity_words(result: dict[str, Any]) -> str:
    rows = [r for r in result["selectivity"] if r["mean"] is not None]
    if not rows:
        return ""
    best = max(rows, key=lambda r: r["mean"])
    index = result.get("selectivity_index")
    if index is None:
        return t("filter.selectivity_best", best=best["class"])
    return t("filter.selectivity_index", best=best["class"], index=f"{index:.2f}")


def flags_section(run: dict[str, Any], result: dict[str, Any]) -> Any:
    layer = result["layer"]
    items: list[Any] = []
    if result["dead"]:
        items.append(html.Li(dbc.Badge(t("filter.dead"), color="danger")))
    for dup in result["duplicates"]:
        items.append(
            html.Li(
                [
                    dbc.Badge(t("filter.duplicate"), color="warning", class_name="me-2"),
                    dcc.Link(
                        t("filter.duplicate_of", j=dup["filter"], r=f"{dup['correlation']:.2f}"),
                        href=href(run["id"], layer, int(dup["filter"])),
                    ),
                ]
            )
        )
    if not items:
        items.append(html.Li(t("filter.healthy")))
    return components.section(
        t("filter.flags"),
        html.Ul(items, className="list-unstyled"),
        components.tr("filter.flags_help"),
    )


def twins_section(run: dict[str, Any], result: dict[str, Any]) -> Any:
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(m["name"], href=href(m["run_id"], m["layer"], int(m["filter"])))),
                html.Td(f"{m['layer']} #{m['filter']}"),
                html.Td(f"{m['correlation']:.2f}"),
                html.Td(
                    dcc.Link(t("filter.compare"), href=f"/compare?runs={run['id']},{m['run_id']}")
                ),
            ]
        )
        for m in result["matches"]
    ]
    head = html.Thead(
        html.Tr([html.Th(t(f"filter.twins.{c}")) for c in ("run", "filter", "r", "compare")])
    )
    body: Any = (
        dbc.Table([head, html.Tbody(rows)], size="sm", class_name="mb-0")
        if rows
        else html.Div(t("filter.no_twins"), className="lens-faint")
    )
    return components.section(t("filter.twins"), body, components.tr("filter.twins_help"))


# --- callbacks -------------------------------------------------------------------------------------


@callbacks(
    Output("filter-analysis", "children"),
    Output("filter-interval", "disabled"),
    Input("filter-interval", "n_intervals"),
    State("filter-key", "data"),
)
def poll(_n, key):
    store = get_store()
    run = store.get_run(str((key or {}).get("run_id", "")), with_history=False)
    if run is None:
        return _note(t("run.deleted")), True
    view, done = analysis_view(store, run, str(key["layer"]), int(key["k"]), ask=True)
    return view, done


# --- links from the run page ---------------------------------------------------------------------


def link_for(run_id: str | None, layer: str | None, click: dict | None, curve: int | None) -> Any:
    """A link to the clicked tile's filter page when `layer` is a conv layer, else nothing.
    `curve`: the trace that carries the tiles' points (None: any)."""
    if not run_id or not layer or not click or not click.get("points"):
        return ""
    point = click["points"][0]
    if curve is not None and point.get("curveNumber") != curve:
        return ""
    idx = point.get("pointIndex", point.get("pointNumber"))
    store = get_store()
    run = store.get_run(run_id, with_history=False)
    if run is None or idx is None or _filter_count(run, layer) is None:
        return ""
    return dcc.Link(t("filter.open", layer=layer, k=int(idx)), href=href(run_id, layer, int(idx)))


@links(
    Output("run-filter-page-link", "children"),
    Input("run-filters", "clickData"),
    State("run-filter-layer", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def filter_tile_link(click, layer, run_id):
    return link_for(run_id, layer, click, 1)


@links(
    Output("run-act-page-link", "children"),
    Input("run-act", "clickData"),
    State("run-act-layer", "value"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def feature_map_link(click, layer, run_id):
    return link_for(run_id, layer, click, 1)
