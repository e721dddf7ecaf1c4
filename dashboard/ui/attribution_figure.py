"""Attribution maps drawn over their input: the digit in gray, the map in colour on top of it.

Pure builders (arrays in, Plotly figures out), shared by the run page and the compare page. One
colour scale, symmetric around 0 and given from outside, so several maps — a run and its
randomised copy, or four runs on one input — mean the same thing by the same colour: red pixels
raised the class's score, blue ones lowered it, and 0 is transparent, so the digit shows through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.ui import i18n
from dashboard.ui.figures import TEMPLATE, empty_figure, localised
from dashboard.ui.montage import png_data_uri

# Blue (against the class) → transparent at 0 → red (for it).
COLORSCALE = [
    [0.0, "rgba(37, 99, 235, 0.95)"],
    [0.25, "rgba(96, 165, 250, 0.75)"],
    [0.5, "rgba(255, 255, 255, 0)"],
    [0.75, "rgba(248, 113, 113, 0.75)"],
    [1.0, "rgba(220, 38, 38, 0.95)"],
]


def value_range(maps: Sequence[np.ndarray | None]) -> float:
    """The largest |value| of the maps, the colour scale's half-width (1 when all are 0)."""
    tops = [float(np.nanmax(np.abs(m))) for m in maps if m is not None and np.size(m)]
    top = max(tops, default=0.0)
    return top if np.isfinite(top) and top > 0 else 1.0


def overlays(
    panels: Sequence[tuple[np.ndarray, np.ndarray, str]],
    vmax: float | None = None,
    height: int = 300,
) -> go.Figure:
    """(input uint8 (h, w), attribution (h, w), title) panels side by side on one colour scale
    (±vmax; by default the largest |value| of them all)."""
    if not panels:
        return empty_figure(i18n.t("attr.fig.none"), height=height)
    scale = value_range([p[1] for p in panels]) if vmax is None else vmax
    fig = make_subplots(
        rows=1,
        cols=len(panels),
        subplot_titles=[title for _i, _a, title in panels],
        horizontal_spacing=0.04,
    )
    hover = i18n.t("fig.row_col") + ": %{z:.3g}<extra></extra>"
    for col, (image, attribution, _title) in enumerate(panels, start=1):
        values = np.nan_to_num(np.asarray(attribution, dtype=np.float32))
        fig.add_trace(
            go.Image(source=png_data_uri(np.asarray(image, dtype=np.uint8)), hoverinfo="skip"),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Heatmap(
                z=values,
                zmin=-scale,
                zmax=scale,
                colorscale=COLORSCALE,
                showscale=col == len(panels),
                colorbar={"thickness": 10, "len": 0.9},
                hovertemplate=hover,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=col)
        fig.update_yaxes(
            visible=False,
            autorange="reversed",
            scaleanchor=f"x{col if col > 1 else ''}",
            constrain="domain",
            row=1,
            col=col,
        )
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 4, "r": 4, "t": 30, "b": 4},
        dragmode=False,
    )
    fig.update_annotations(font={"size": 12})
    return localised(fig)
