"""Pure figure builders of the compare page: arrays in, Plotly figures out (no store, no Dash).

Runs are shown side by side in columns, so a tile grid is sized for its column's width; tiles can
be outlined (dead filters) and labelled (filter numbers, matched correlations). Colour ranges can
be given from outside, so several runs share one scale.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from dash import dcc, html
from PIL import Image

from dashboard.ui.figures import BAD, GOOD, NEUTRAL, TEMPLATE, empty_figure, plotly_text
from dashboard.ui.i18n import t
from dashboard.ui.montage import Montage, montage

RUN_COLORS = ("#2563eb", "#f59e0b", "#16a34a", "#7c3aed")
DEAD_COLOR = "#dc2626"
COLUMN_PX = {1: 1100, 2: 600, 3: 400, 4: 300}  # a run's column width on a wide screen


def letter(i: int) -> str:
    return "ABCD"[i] if 0 <= i < 4 else str(i + 1)


def scaled(tiles: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """(n, h, w) values into [0, 1]: per tile when no range is given, else on [lo, hi]. Colour
    tiles (n, h, w, 3) are scaled over their three channels together, keeping their hues."""
    t = np.nan_to_num(np.asarray(tiles, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if lo is None or hi is None:
        axes = tuple(range(1, t.ndim))
        low = t.min(axis=axes, keepdims=True)
        span = t.max(axis=axes, keepdims=True) - low
        return np.divide(t - low, span, out=np.zeros_like(t), where=span > 1e-12)
    span = hi - lo
    return np.clip((t - lo) / span, 0.0, 1.0) if span > 1e-12 else np.zeros_like(t)


def png_uri(image: np.ndarray) -> str:
    """A PNG data URI, quickly: a light zlib level, since these montages are a few kilobytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=3)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    return TEMPLATE.to_plotly_json()


def tile_grid(
    tiles01: np.ndarray,
    labels: Sequence[str],
    hovers: Sequence[str],
    cmap: str = "viridis",
    outlined: Sequence[int] = (),
    columns: int = 2,
    target: int = 28,
    max_tile_px: int = 96,
) -> dict[str, Any]:
    """Tiles in [0, 1] as one PNG montage, with a label above each and outlines around some.

    Traces: 0 the image, 1 invisible markers carrying the hover text (point index = tile index),
    2 the labels. Built as a plain figure dict: a page shows up to four of these per view, and
    Plotly's validating objects would cost more than the pictures. Show it with `tile_graph`.
    """
    m = montage(tiles01, cmap=cmap, target=target, band_frac=0.34)
    origins = [m.origin(i) for i in range(len(tiles01))]
    height, width = m.image.shape[:2]
    # Fill the run's column, but never blow a tile up past max_tile_px screen pixels.
    scale = min(COLUMN_PX.get(columns, 300) / width, max_tile_px / m.tile)
    pad = _pad(m)
    data = [
        {"type": "image", "source": png_uri(m.image), "hoverinfo": "skip"},
        {
            "type": "scatter",
            "x": [x - 0.5 + m.tile_w / 2 for x, _ in origins],
            "y": [y - 0.5 + m.tile_h / 2 for _, y in origins],
            "mode": "markers",
            "hovertext": list(hovers),
            "hoverinfo": "text",
            "marker": {"size": 14, "symbol": "square", "opacity": 0},
            "showlegend": False,
        },
        {
            "type": "scatter",
            "x": [x - 0.5 for x, _ in origins],
            "y": [y - 0.5 - m.band / 2 for _, y in origins],
            "text": list(labels),
            "mode": "text",
            "textposition": "middle right",
            "textfont": {"size": 9, "color": "#4b5563"},
            "hoverinfo": "skip",
            "showlegend": False,
        },
    ]
    layout = {
        "template": _template(),
        # No height: the page sizes the graph by this aspect ratio (`tile_graph`), so the montage
        # fills its column at any screen width, up to this natural size.
        "meta": {
            "width": round(scale * (width + 2 * pad) + 4),
            "height": round(scale * (height + 2 * pad) + 4),
        },
        "hovermode": "closest",
        "dragmode": False,
        "margin": {"l": 2, "r": 2, "t": 2, "b": 2},
        # A little room around the montage, so the outline of an edge tile is not cut off.
        "xaxis": {
            "visible": False,
            "range": [-0.5 - pad, width - 0.5 + pad],
            "constrain": "domain",
        },
        "yaxis": {
            "visible": False,
            "range": [height - 0.5 + pad, -0.5 - pad],
            "scaleanchor": "x",
            "constrain": "domain",
        },
        "shapes": [_outline(m, origins[i]) for i in outlined if 0 <= i < len(origins)],
    }
    return {"data": data, "layout": layout}


def tile_graph(gid: str, figure: dict[str, Any]) -> html.Div:
    """A tile grid that keeps its aspect ratio in whatever width its column has.

    A responsive dcc.Graph takes its parent's height, so the parent carries the aspect ratio.
    """
    size = figure["layout"]["meta"]
    graph = dcc.Graph(
        id=gid,
        figure=figure,
        responsive=True,
        config={"displayModeBar": False},
        className="lens-graph",
        style={"height": "100%", "width": "100%"},
    )
    return html.Div(
        graph,
        style={
            "aspectRatio": f"{size['width']} / {size['height']}",
            "maxWidth": f"{size['width']}px",
            "margin": "0 auto",
        },
    )


def _pad(m: Montage) -> float:
    return max(1.0, m.gap / 2)


def _outline(m: Montage, origin: tuple[int, int]) -> dict[str, Any]:
    x, y = origin
    pad = _pad(m)
    return {
        "type": "rect",
        "x0": x - 0.5 - pad,
        "y0": y - 0.5 - pad,
        "x1": x - 0.5 + m.tile_w + pad,
        "y1": y - 0.5 + m.tile_h + pad,
        "line": {"color": DEAD_COLOR, "width": 2},
        "layer": "above",
    }


def flat_output(
    values: np.ndarray,
    class_names: Sequence[str] = (),
    value_range: tuple[float, float] | None = None,
    color: str = RUN_COLORS[0],
    width: int = 64,
) -> dict[str, Any]:
    """A flat layer (flatten, dense) of one run: bars for up to 128 units, else a strip of rows
    `width` units long; on `value_range` when several runs share one scale."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float32).ravel())
    layout: dict[str, Any] = {"template": _template(), "margin": {"l": 36, "r": 8, "t": 8, "b": 30}}
    if v.size <= 128:
        names = list(class_names) if len(class_names) == v.size else list(range(v.size))
        data = [
            {
                "type": "bar",
                "x": [str(n) for n in names],
                "y": v.round(5).tolist(),
                "marker": {"color": color},
                "hovertemplate": t("compare.fig.unit_hover"),
            }
        ]
        layout |= {"height": 220, "bargap": 0.15, "xaxis": {"type": "category"}}
        if value_range is not None:
            lo, hi = value_range
            layout["yaxis"] = {"range": [min(0.0, lo), hi + 0.05 * ((hi - lo) or 1.0)]}
        return {"data": data, "layout": layout}
    rows = int(np.ceil(v.size / width))
    grid = np.full(rows * width, None, dtype=object)
    grid[: v.size] = v.round(4).tolist()
    heat: dict[str, Any] = {
        "type": "heatmap",
        "z": grid.reshape(rows, width).tolist(),
        "colorscale": "Viridis",
        "hovertemplate": t("compare.fig.row_unit_hover"),
        "colorbar": {"thickness": 8},
    }
    if value_range is not None:
        heat |= {"zmin": value_range[0], "zmax": value_range[1]}
    layout |= {
        "height": min(520, 60 + rows * 6),
        "xaxis": {"visible": False},
        "yaxis": {"visible": False, "autorange": "reversed"},
        "margin": {"l": 4, "r": 4, "t": 4, "b": 4},
    }
    return {"data": [heat], "layout": layout}


def probabilities(
    probs: np.ndarray, classes: Sequence[str] = (), true_label: int | None = None
) -> dict[str, Any]:
    """One run's class probabilities: its answer green (red when wrong), the true class outlined."""
    p = np.asarray(probs, dtype=np.float32).ravel()
    names = [str(c) for c in classes] if len(classes) == p.size else [str(i) for i in range(p.size)]
    pred = int(np.argmax(p))
    colors = [NEUTRAL] * p.size
    colors[pred] = GOOD if true_label is None or pred == true_label else BAD
    outline = ["#111827" if i == true_label else "rgba(0,0,0,0)" for i in range(p.size)]
    bar = {
        "type": "bar",
        "x": names,
        "y": p.round(5).tolist(),
        "marker": {"color": colors, "line": {"color": outline, "width": 2}},
        "text": [f"{v:.0%}" if v >= 0.005 else "" for v in p],
        "textposition": "outside",
        "cliponaxis": False,
        "hovertemplate": "%{x}: %{y:.2%}<extra></extra>",
    }
    layout = {
        "template": _template(),
        "height": 200,
        "xaxis": {"type": "category"},
        "yaxis": {"range": [0, 1.15], "tickformat": ".0%"},
        "margin": {"l": 40, "r": 8, "t": 12, "b": 36},
    }
    return {"data": [bar], "layout": layout}


def curves(histories: Sequence[tuple[str, str, dict[str, Any]]]) -> Any:
    """Loss and accuracy per epoch of several runs on shared axes: one colour per run, training
    solid and validation dashed. `histories` holds (label, colour, history) per run.

    A plain figure dict with two side-by-side axes: Plotly's make_subplots costs more than a
    whole page's other views."""
    n = max((len(h.get(k) or []) for _, _, h in histories for k in ("loss", "val_loss")), default=0)
    if n == 0:
        return empty_figure(t("compare.fig.no_epoch"))
    data = []
    for name, color, history in histories:
        label = plotly_text(name)  # a run's name: text, never Plotly's markup
        for axis, key in (("", "loss"), ("2", "accuracy")):
            for prefix, dash, what in (("", "solid", "training"), ("val_", "dash", "validation")):
                words = {"what": t(f"fig.{what}"), "metric": t(f"fig.{key}_word")}
                ys = list(history.get(prefix + key) or [])
                if not any(y is not None for y in ys):
                    continue
                data.append(
                    {
                        "type": "scatter",
                        "x": list(range(1, len(ys) + 1)),
                        "y": ys,
                        "xaxis": f"x{axis}",
                        "yaxis": f"y{axis}",
                        "name": label,
                        "legendgroup": label,
                        "showlegend": not axis and not prefix,
                        "mode": "lines+markers",
                        "line": {"color": color, "dash": dash, "width": 2},
                        "marker": {"size": 5},
                        "hovertemplate": t("compare.fig.curve_hover", label=label, **words),
                    }
                )
    epoch_axis = {
        "title": {"text": t("fig.epoch")},
        "dtick": 1 if n <= 20 else None,
        "range": [0.7, n + 0.3],
    }
    titles = [
        {
            "text": title,
            "x": x,
            "y": 1.0,
            "xref": "paper",
            "yref": "paper",
            "xanchor": "center",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 14},
        }
        for title, x in ((t("fig.loss"), 0.225), (t("fig.accuracy"), 0.775))
    ]
    layout = {
        "template": _template(),
        "height": 360,
        "xaxis": epoch_axis | {"domain": [0.0, 0.45], "anchor": "y"},
        "xaxis2": epoch_axis | {"domain": [0.55, 1.0], "anchor": "y2"},
        "yaxis": {"anchor": "x"},
        "yaxis2": {"anchor": "x2", "tickformat": ".0%"},
        "annotations": titles,
        "legend": {"orientation": "h", "y": -0.3, "x": 0.5, "xanchor": "center", "yanchor": "top"},
        "margin": {"l": 48, "r": 16, "t": 36, "b": 96},
    }
    return {"data": data, "layout": layout}


def cka_heatmap(result: dict[str, Any], label_a: str, label_b: str) -> Any:
    """CKA of every layer of A (rows, first layer on top) against every layer of B (columns)."""
    z = np.asarray(result.get("matrix") or [], dtype=np.float64)
    if z.ndim != 2 or z.size == 0:
        return empty_figure(t("compare.fig.no_matrix"))
    rows, cols = result["layers_a"], result["layers_b"]
    label_a, label_b = plotly_text(label_a), plotly_text(label_b)
    lower, upper = result.get("lower"), result.get("upper")
    interval: dict[str, Any] = {}
    if lower is not None and upper is not None:
        bounds = np.stack(
            [np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)], axis=-1
        )
        if bounds.shape == (*z.shape, 2):  # customdata[i][j] = [lower, upper] of cell (i, j)
            level = round(100 * float(result.get("level", 0.95)))
            interval = {
                "customdata": bounds.round(4).tolist(),
                "hovertemplate": t("compare.fig.cka_hover_ci", a=label_a, b=label_b, level=level),
            }
    heat = {
        "type": "heatmap",
        "z": z.round(4).tolist(),
        "x": list(cols),
        "y": list(rows),
        "zmin": 0,
        "zmax": 1,
        "colorscale": "Viridis",
        "texttemplate": "%{z:.2f}",
        "textfont": {"size": 11},
        "hovertemplate": t("compare.fig.cka_hover", a=label_a, b=label_b),
        "colorbar": {"thickness": 10, "title": {"text": "CKA", "side": "right"}},
        "xgap": 1,
        "ygap": 1,
        **interval,
    }
    layout = {
        "template": _template(),
        "height": max(300, 60 * len(rows) + 110),
        "xaxis": {"title": {"text": t("compare.fig.layers_of", label=label_b)}, "type": "category"},
        "yaxis": {
            "title": {"text": t("compare.fig.layers_of", label=label_a)},
            "type": "category",
            "autorange": "reversed",
        },
        "margin": {"l": 110, "r": 10, "t": 10, "b": 90},
    }
    return {"data": [heat], "layout": layout}
