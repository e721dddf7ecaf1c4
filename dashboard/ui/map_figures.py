"""Pure figure builders for filters and feature maps: kernels and activations in, Plotly
figures out (montages of tiles drawn as one picture, with hover text per tile)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard.ui import i18n
from dashboard.ui.figures import TEMPLATE, TRAIN_COLOR, as_array, empty_figure, localised
from dashboard.ui.montage import Montage, montage, normalize, png_data_uri


def _montage_figure(
    m: Montage,
    labels: Sequence[str],
    hovers: Sequence[str],
    display_tile: int = 60,
    max_height: int = 900,
) -> go.Figure:
    """One PNG image of all tiles, a label above each, and invisible markers carrying hover text.

    Traces: 0 the image, 1 the markers (point index = tile index, so clickData tells which tile
    was clicked), 2 the labels.
    """
    h, w = m.image.shape[:2]
    scale = display_tile / m.tile
    height = min(max_height, max(160, int(h * scale) + 16))
    fig = go.Figure(go.Image(source=png_data_uri(m.image), hoverinfo="skip"))
    centers = [m.origin(i) for i in range(len(labels))]
    fig.add_trace(
        go.Scatter(
            x=[x - 0.5 + m.tile_w / 2 for x, _ in centers],
            y=[y - 0.5 + m.tile_h / 2 for _, y in centers],
            mode="markers",
            hovertext=list(hovers),
            hoverinfo="text",
            hoverlabel={"bgcolor": "#111827", "bordercolor": "#111827", "font": {"color": "#fff"}},
            showlegend=False,
            marker={"size": max(8, int(m.tile * scale * 0.9)), "symbol": "square", "opacity": 0},
        )
    )
    # Labels as one text trace: adding one annotation per tile is quadratic in Plotly.
    fig.add_trace(
        go.Scatter(
            x=[x - 0.5 for x, _ in centers],
            y=[y - 0.5 - m.band / 2 for _, y in centers],
            text=list(labels),
            mode="text",
            textposition="middle right",
            textfont={"size": 10, "color": "#4b5563"},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain")
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        hovermode="closest",
        dragmode=False,
        margin={"l": 4, "r": 4, "t": 4, "b": 4},
    )
    return fig


def _stats(tile: np.ndarray) -> str:
    t = np.asarray(tile, dtype=np.float32)
    if not np.isfinite(t).all():
        return i18n.t("fig.stats.nan")
    if float(t.max() - t.min()) < 1e-12:
        return i18n.t("fig.stats.constant", value=i18n.number(f"{float(t.min()):.3g}"))
    lo, hi, mean = (i18n.number(f"{float(v):.3g}") for v in (t.min(), t.max(), t.mean()))
    return i18n.t("fig.stats", min=lo, max=hi, mean=mean)


RGB = "rgb"  # the channel choice that shows a first layer's filters on colour input in colour


def kernel_tiles(kernel: Any, channel: int | str | None = None) -> np.ndarray | None:
    """(kh, kw, cin, cout) → (cout, kh, kw): one input channel, or the mean over all of them;
    with channel RGB and three input channels, (cout, kh, kw, 3): each filter as a colour patch."""
    k = as_array(kernel)
    if k is None or k.ndim != 4:
        return None
    k = k.astype(np.float32)
    if channel == RGB and k.shape[2] == 3:
        return k.transpose(3, 0, 1, 2)
    if k.shape[2] == 1:
        plane = k[:, :, 0, :]
    elif isinstance(channel, int) and 0 <= channel < k.shape[2]:
        plane = k[:, :, channel, :]
    else:
        plane = k.mean(axis=2)
    return plane.transpose(2, 0, 1)


def filter_grid(kernel: Any, channel: int | str | None = None, per_tile: bool = True) -> go.Figure:
    """A conv layer's filters as small gray images (white = large weight, black = small); with
    channel RGB, a first layer's filters on colour input as colour patches (each channel's
    weights as that primary's intensity, on one scale per filter or per layer)."""
    tiles = kernel_tiles(kernel, channel)
    if tiles is None:
        return empty_figure(i18n.t("fig.no_filters"))
    m = montage(normalize(tiles, per_tile), cmap="gray", target=42)
    labels = [f"#{i}" for i in range(len(tiles))]
    word = i18n.t("fig.filter")
    hovers = [f"{word} #{i}<br>{_stats(t)}" for i, t in enumerate(tiles)]
    return _montage_figure(m, labels, hovers, display_tile=84 if len(tiles) <= 16 else 52)


def activation_grid(
    activation: Any, per_tile: bool = True, class_names: Sequence[str] = ()
) -> go.Figure:
    """One image's feature maps (h, w, c) as viridis tiles; flat outputs as bars or a strip."""
    act = as_array(activation)
    if act is None:
        return empty_figure(i18n.t("fig.no_activations"))
    if act.ndim == 1:
        return vector_figure(act, class_names if len(class_names) == act.size else None)
    if act.ndim == 2:
        act = act[:, :, None]
    tiles = act.astype(np.float32).transpose(2, 0, 1)
    m = montage(normalize(tiles, per_tile), cmap="viridis", target=28)
    labels = [f"#{i}" for i in range(len(tiles))]
    word = i18n.t("fig.channel")
    hovers = [f"{word} #{i}<br>{_stats(t)}" for i, t in enumerate(tiles)]
    return _montage_figure(m, labels, hovers, display_tile=96 if len(tiles) <= 16 else 64)


def vector_figure(values: Any, labels: Sequence[str] | None = None, width: int = 64) -> go.Figure:
    """A flat layer output: bars for up to 128 units, else a strip of rows `width` units long."""
    v = as_array(values)
    if v is None:
        return empty_figure(i18n.t("fig.no_values"))
    v = v.astype(np.float32).ravel()
    if v.size <= 128:
        x = list(labels) if labels is not None else list(range(v.size))
        fig = go.Figure(
            go.Bar(
                x=x,
                y=v,
                marker_color=TRAIN_COLOR,
                hovertemplate=i18n.t("fig.unit") + " %{x}: %{y:.4g}<extra></extra>",
            )
        )
        fig.update_xaxes(type="category", title=i18n.t("fig.unit") if labels is None else None)
        fig.update_layout(template=TEMPLATE, height=280, bargap=0.15)
        return fig
    rows = int(np.ceil(v.size / width))
    grid = np.full(rows * width, np.nan, dtype=np.float32)
    grid[: v.size] = v
    unit = np.arange(rows * width).reshape(rows, width)
    fig = go.Figure(
        go.Heatmap(
            z=grid.reshape(rows, width),
            text=unit,
            colorscale="Viridis",
            hovertemplate=i18n.t("fig.unit") + " %{text}: %{z:.4g}<extra></extra>",
            colorbar={"thickness": 10},
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(
        template=TEMPLATE, height=min(700, 80 + rows * 9), margin={"l": 8, "r": 8, "t": 8, "b": 8}
    )
    return fig


def channel_detail(plane: Any, title: str = "", colorscale: str = "Viridis") -> go.Figure:
    """One feature map or kernel at full resolution, with its values on hover."""
    z = as_array(plane)
    if z is None or z.ndim != 2:
        return empty_figure(i18n.t("fig.click_tile"), height=300)
    fig = go.Figure(
        go.Heatmap(
            z=z.astype(np.float32),
            colorscale=colorscale,
            hovertemplate=i18n.t("fig.row_col") + ": %{z:.4g}<extra></extra>",
            colorbar={"thickness": 10},
            # A kernel is small enough to print its weights in the cells.
            texttemplate="%{z:.2f}" if z.size <= 49 else None,
            textfont={"size": 11},
        )
    )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        template=TEMPLATE,
        height=300,
        title={"text": title, "font": {"size": 13}},
        margin={"l": 8, "r": 8, "t": 36 if title else 8, "b": 8},
    )
    return localised(fig)


def sample_images(
    images: Any, labels: Any = (), classes: Sequence[str] = (), columns: int = 8
) -> go.Figure:
    """A few dataset images (gray, or in colour) with their labels above them."""
    imgs = as_array(images)
    if imgs is None or not (imgs.ndim == 3 or (imgs.ndim == 4 and imgs.shape[3] == 3)):
        return empty_figure(i18n.t("fig.no_images"))
    tiles = imgs.astype(np.float32) / (255.0 if imgs.dtype == np.uint8 else max(imgs.max(), 1e-6))
    m = montage(tiles, cmap="gray", columns=min(columns, len(tiles)), target=56, band_frac=0.32)
    names = [classes[int(y)] if 0 <= int(y) < len(classes) else str(int(y)) for y in labels]
    names += [""] * (len(tiles) - len(names))
    word = i18n.t("fig.image")
    hovers = [f"{word} {i}: {name}" for i, name in enumerate(names)]
    return _montage_figure(m, names, hovers, display_tile=64)
