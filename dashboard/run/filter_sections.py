"""The parts of a filter's page (dashboard/run/filter_page.py): its weights after every epoch,
and the sections drawn from its analysis job's result (top test images with their receptive
fields, the activation-maximisation picture, the mean activation per class, the accuracy
without it, the flags, its twins in other runs). Pure: store, run and result in, components out.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html
from PIL import Image, ImageDraw

from dashboard.service import run_data
from dashboard.ui import components, figures
from dashboard.ui.i18n import number, t
from dashboard.ui.montage import normalize, png_data_uri
from shared import comparison
from shared.datasets import DatasetUnavailable, load_raw
from shared.store import RunStore

SCALE = 5  # input pixels → screen pixels for test images and the picture


BOX_COLOUR = (239, 68, 68)


def href(run_id: str, layer: str, k: int) -> str:
    return f"/run/{run_id}/filter/{layer}/{k}"


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


def figure_tile(src: str, caption: Any, href_: str | None = None, width: int = 112) -> html.Div:
    img = html.Img(src=src, width=width, className="d-block", style={"imageRendering": "pixelated"})
    return html.Div(
        [dcc.Link(img, href=href_) if href_ else img, html.Div(caption, className="small")],
        className="d-inline-block me-2 mb-2 text-center align-top",
    )


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


def weights_section(store: RunStore, run: dict[str, Any], layer: str, k: int) -> Any:
    stack = store.files.load_array(run["id"], f"filters/epochs/{layer}.npy")
    if stack is None or stack.ndim != 5:
        body: Any = html.Div(t("filter.no_weights"), className="lens-faint")
    else:
        body = html.Div(
            [
                figure_tile(src, t("filter.epoch", e=e) if e else t("filter.initial"), width=72)
                for e, src in epoch_tiles(stack, k)
            ]
        )
    return components.section(t("filter.weights"), body, components.tr("filter.weights_help"))


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
            tiles.append(figure_tile(outlined(images[i], top["box"]), caption))
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
                figure_tile(picture_src, t("filter.actmax_caption"), width=168)
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


def _points(share: float, digits: int) -> str:
    """A difference of two accuracies in percentage points ("2.00"), not a percentage of one."""
    return number(f"{100 * share:.{digits}f}")


def ablation_sentence(ablation: dict[str, Any], digits: int = 2) -> str:
    """What zeroing the filter did to the test accuracy, in words: a drop, a gain (accuracy rose
    without it, which a "drop of -0.05" used to say), or no change at the digits shown."""
    acc, without = float(ablation["accuracy"]), float(ablation["accuracy_without"])
    shown = {
        "acc": components.fmt_pct(acc, digits),
        "without": components.fmt_pct(without, digits),
    }
    change = round((acc - without) * 100, digits)
    if change > 0:
        return t("filter.ablation_summary", drop=_points(acc - without, digits), **shown)
    if change < 0:
        return t("filter.ablation_summary_gain", gain=_points(without - acc, digits), **shown)
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
