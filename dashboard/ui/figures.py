"""Pure figure builders: numpy arrays in, Plotly figures out. No store, no Dash, no I/O. Charts
of a run (curves, confusion matrix, class probabilities) and what every figure shares; filters
and feature maps are in ui/map_figures.py.

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


def as_array(data: Any) -> np.ndarray | None:
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
    cm = as_array(matrix)
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


def class_probabilities(
    probabilities: Any, classes: Sequence[str] = (), true_label: int | None = None
) -> go.Figure:
    """The model's output for one image; the predicted class in green, or red when it is wrong."""
    p = as_array(probabilities)
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
