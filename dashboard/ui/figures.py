"""Pure figure builders: numpy arrays in, Plotly figures out. No store, no Dash, no I/O.

Every builder accepts missing or empty data and then returns a figure that says so, instead of
raising: a run that is still training simply has nothing to show yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.ui import i18n
from dashboard.ui.montage import Montage, montage, normalize, png_data_uri

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TRAIN_COLOR, VAL_COLOR = "#2563eb", "#f59e0b"
GOOD, BAD, NEUTRAL = "#16a34a", "#dc2626", "#94a3b8"
TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font={"family": FONT, "size": 12, "color": "#1f2937"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#ffffff",
        margin={"l": 48, "r": 16, "t": 32, "b": 40},
        hoverlabel={"font": {"family": FONT}},
        xaxis={"gridcolor": "#eef2f7", "zerolinecolor": "#e5e7eb", "linecolor": "#d1d5db"},
        yaxis={"gridcolor": "#eef2f7", "zerolinecolor": "#e5e7eb", "linecolor": "#d1d5db"},
        colorway=[TRAIN_COLOR, VAL_COLOR, GOOD, BAD, "#7c3aed", "#0891b2"],
    )
)


def _array(data: Any) -> np.ndarray | None:
    if data is None:
        return None
    arr = np.asarray(data)
    return arr if arr.size else None


# Plotly reads a subset of HTML in every text it draws (legends, hover labels, titles, annotations:
# <a href>, <span style>, <b>, <br>...) and fills %{...} in hover templates. A run's name is user
# text: these entities show it as typed (Plotly turns them back into the characters).
_PLOTLY_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "%": "&#37;"})


def plotly_text(text: Any) -> str:
    """User text (a run's name) for any Plotly label, legend or hover template: shown as text."""
    return str(text).translate(_PLOTLY_ESCAPES)


def localised(fig: go.Figure) -> go.Figure:
    """Plotly's decimal and thousands separators for the page's language (0,5 in Spanish)."""
    fig.update_layout(separators=i18n.t("fmt.plotly_separators"))
    return fig


def fmt_share(value: float) -> str:
    """0.973 → '97%' ('97 %' in Spanish)."""
    return f"{value:.0%}".replace("%", i18n.t("fmt.percent_sign"))


def empty_figure(message: str | None = None, height: int = 260) -> go.Figure:
    """A blank figure carrying one centred sentence."""
    fig = go.Figure(layout={"template": TEMPLATE, "height": height})
    fig.add_annotation(
        text=message or i18n.t("fig.no_data"),
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 14, "color": "#6b7280"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


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
    k = _array(kernel)
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
    act = _array(activation)
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
    v = _array(values)
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


def training_curves(history: dict[str, Sequence[float | None]] | None) -> go.Figure:
    """Loss and accuracy per epoch, training and validation, side by side."""
    history = history or {}
    n = max(
        (len(history.get(k) or []) for k in ("loss", "accuracy", "val_loss", "val_accuracy")),
        default=0,
    )
    if n == 0:
        return empty_figure(i18n.t("fig.curves.empty"))
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(i18n.t("fig.loss"), i18n.t("fig.accuracy")),
        horizontal_spacing=0.1,
    )
    names = {"loss": i18n.t("fig.loss_word"), "accuracy": i18n.t("fig.accuracy_word")}
    epoch_word = i18n.t("fig.epoch")
    epochs = list(range(1, n + 1))
    for col, key in ((1, "loss"), (2, "accuracy")):
        for prefix, label, color, dash in (
            ("", i18n.t("fig.training"), TRAIN_COLOR, "solid"),
            ("val_", i18n.t("fig.validation"), VAL_COLOR, "dash"),
        ):
            ys = list(history.get(prefix + key) or [])
            if not any(y is not None for y in ys):
                continue
            fig.add_trace(
                go.Scatter(
                    x=epochs[: len(ys)],
                    y=ys,
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    mode="lines+markers",
                    line={"color": color, "dash": dash, "width": 2},
                    marker={"size": 7},
                    hovertemplate=f"{epoch_word} %{{x}}<br>{label} · {names[key]} "
                    "%{y:.4f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text=epoch_word, dtick=1 if n <= 20 else None, range=[0.7, n + 0.3])
    fig.update_yaxes(tickformat=".1%", row=1, col=2)
    fig.update_layout(
        template=TEMPLATE,
        height=330,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.22, "x": 0.5, "xanchor": "center", "yanchor": "top"},
        margin={"l": 48, "r": 16, "t": 36, "b": 72},
    )
    return localised(fig)


def confusion_matrix(matrix: Any, classes: Sequence[str] = ()) -> go.Figure:
    """Test-set counts: rows are true classes, columns predictions; colour is the row share."""
    cm = _array(matrix)
    if cm is None or cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        return empty_figure(i18n.t("fig.confusion.empty"))
    cm = cm.astype(np.int64)
    names = (
        [str(c) for c in classes]
        if len(classes) == cm.shape[0]
        else [str(i) for i in range(cm.shape[0])]
    )
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, np.where(totals == 0, 1, totals))
    hover = [
        [
            i18n.t(
                "fig.confusion.hover",
                true=names[r],
                pred=names[c],
                n=cm[r, c],
                share=i18n.number(f"{share[r, c] * 100:.1f}"),
            )
            for c in range(len(names))
        ]
        for r in range(len(names))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=names,
            y=names,
            text=cm,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            textfont={"size": 11},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(title_text=i18n.t("fig.predicted"), type="category", side="bottom")
    fig.update_yaxes(title_text=i18n.t("fig.true"), type="category", autorange="reversed")
    fig.update_layout(template=TEMPLATE, height=420, margin={"l": 70, "r": 10, "t": 10, "b": 60})
    return localised(fig)


def sample_images(
    images: Any, labels: Any = (), classes: Sequence[str] = (), columns: int = 8
) -> go.Figure:
    """A few dataset images (gray, or in colour) with their labels above them."""
    imgs = _array(images)
    if imgs is None or not (imgs.ndim == 3 or (imgs.ndim == 4 and imgs.shape[3] == 3)):
        return empty_figure(i18n.t("fig.no_images"))
    tiles = imgs.astype(np.float32) / (255.0 if imgs.dtype == np.uint8 else max(imgs.max(), 1e-6))
    m = montage(tiles, cmap="gray", columns=min(columns, len(tiles)), target=56, band_frac=0.32)
    names = [classes[int(y)] if 0 <= int(y) < len(classes) else str(int(y)) for y in labels]
    names += [""] * (len(tiles) - len(names))
    word = i18n.t("fig.image")
    hovers = [f"{word} {i}: {name}" for i, name in enumerate(names)]
    return _montage_figure(m, names, hovers, display_tile=64)


def class_probabilities(
    probabilities: Any, classes: Sequence[str] = (), true_label: int | None = None
) -> go.Figure:
    """The model's output for one image; the predicted class in green, or red when it is wrong."""
    p = _array(probabilities)
    if p is None:
        return empty_figure(i18n.t("fig.no_prediction"), height=220)
    p = p.astype(np.float32).ravel()
    names = [str(c) for c in classes] if len(classes) == p.size else [str(i) for i in range(p.size)]
    pred = int(np.argmax(p))
    colors = [NEUTRAL] * p.size
    colors[pred] = GOOD if true_label is None or pred == true_label else BAD
    line = [
        "#111827" if true_label is not None and i == true_label else "rgba(0,0,0,0)"
        for i in range(p.size)
    ]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=p,
            marker={"color": colors, "line": {"color": line, "width": 2}},
            text=[fmt_share(float(v)) if v >= 0.005 else "" for v in p],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:.2%}<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", showgrid=True)
    fig.update_layout(template=TEMPLATE, height=220, margin={"l": 40, "r": 8, "t": 16, "b": 40})
    return localised(fig)


def channel_detail(plane: Any, title: str = "", colorscale: str = "Viridis") -> go.Figure:
    """One feature map or kernel at full resolution, with its values on hover."""
    z = _array(plane)
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
