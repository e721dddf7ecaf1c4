"""The run page's two inspection views, filters and feature maps: cards and their pure updates."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from dashboard.run.input_panel import test_input_row
from dashboard.run.views import layer_caption, select_layer_options, thumbs
from dashboard.service import run_data
from dashboard.ui import components, explanations, figures, map_figures
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
from shared.config import LayerInfo
from shared.datasets import input_shape
from shared.numbers import whole_number
from shared.store import RunStore

MEAN = "mean"
RGB = map_figures.RGB


def scales() -> list[dict[str, str]]:
    return [
        {"label": t("inspect.scale.tile"), "value": "tile"},
        {"label": t("inspect.scale.layer"), "value": "layer"},
    ]


def _labelled(label: str, control: Any, md: int) -> dbc.Col:
    """A control under its small label: one column of a card's controls row."""
    return dbc.Col([html.Span(label, className="lens-label"), control], md=md)


def _scale_choice(cid: str) -> dbc.RadioItems:
    """Gray or colour levels per tile or for the whole layer."""
    return dbc.RadioItems(
        id=cid, options=scales(), value="tile", inline=True, class_name="lens-radio"
    )


def _snapshot_at(store: RunStore, run_id: str, layer: str, epoch: int | None) -> int | None:
    """The stored filter snapshot the epoch slider points at; None for the final kernel (the
    slider's last stop, or a run without per-epoch snapshots)."""
    snaps = run_data.filter_snapshots(store, run_id, layer)
    return None if epoch is None or snaps == 0 or epoch >= snaps - 1 else int(epoch)


def _conv_infos(infos: list[LayerInfo]) -> list[LayerInfo]:
    return [i for i in infos if i.type == "conv2d"]


def channel_options(cin: int, colour: bool = False) -> list[dict[str, Any]]:
    rgb = [{"label": t("inspect.channel.rgb"), "value": RGB}] if colour else []
    return (
        rgb
        + [{"label": t("inspect.channel.mean"), "value": MEAN}]
        + [{"label": t("inspect.channel.n", c=c), "value": str(c)} for c in range(cin)]
    )


def sees_colour(run: dict[str, Any], infos: list[LayerInfo], layer: str | None) -> bool:
    """True for the first conv layer of a run on colour images: its filters can be shown in
    colour, one weight per primary (deeper layers' channels are feature maps, not colours)."""
    convs = _conv_infos(infos)
    return (
        bool(convs)
        and convs[0].name == layer
        and input_shape(str(run.get("dataset", "")))[2] == 3
        and bool(convs[0].kernel_shape)
        and convs[0].kernel_shape[2] == 3  # type: ignore[index]
    )


def filters_card(store: RunStore, run: dict[str, Any], infos: list[LayerInfo]) -> dbc.Card:
    convs = _conv_infos(infos)
    first = convs[0].name if convs else None
    snaps = run_data.filter_snapshots(store, run["id"], first) if first else 0
    start = RGB if sees_colour(run, infos, first) else MEAN
    fig, options, disabled, caption = filter_view(store, run, first, start, None, "tile")
    epoch = html.Div(
        [
            html.Span(t("inspect.after_epoch"), className="lens-label"),
            dcc.Slider(
                id="run-filter-epoch",
                min=0,
                max=max(snaps - 1, 1),
                step=1,
                value=max(snaps - 1, 1),
                marks={e: t("inspect.init") if e == 0 else str(e) for e in range(snaps)},
                included=False,
                allow_direct_input=False,
            ),
        ],
        className="lens-slider" if snaps > 1 else "d-none",
    )
    controls = dbc.Row(
        [
            _labelled(
                t("inspect.layer"),
                dbc.Select(
                    id="run-filter-layer",
                    value=first,
                    size="sm",
                    options=[
                        {
                            "label": t(
                                "inspect.filter_layer",
                                name=i.name,
                                kh=i.kernel_shape[0],
                                kw=i.kernel_shape[1],
                                n=i.kernel_shape[3],
                            ),
                            "value": i.name,
                        }
                        for i in convs
                        if i.kernel_shape
                    ],
                ),
                md=4,
            ),
            _labelled(
                t("inspect.input_channel"),
                dbc.Select(
                    id="run-filter-channel",
                    value=start,
                    options=options,
                    disabled=disabled,
                    size="sm",
                ),
                md=3,
            ),
            _labelled(t("inspect.gray_per"), _scale_choice("run-filter-scale"), md=2),
            dbc.Col(epoch, md=3),
        ],
        class_name="g-2 mb-2",
    )
    body = html.Div(
        [
            controls,
            html.Div(caption, id="run-filter-caption", className="lens-help"),
            dbc.Row(
                [
                    dbc.Col(graph("run-filters", fig), lg=9),
                    dbc.Col(
                        [
                            graph("run-filter-detail", map_figures.channel_detail(None)),
                            html.Div(id="run-filter-page-link", className="small"),
                        ],
                        lg=3,
                    ),
                ],
                class_name="g-2",
            ),
        ]
    )
    return components.section(
        t("inspect.filters"),
        body,
        explanations.filters(),
    )


def filter_view(
    store: RunStore,
    run: dict[str, Any],
    layer: str | None,
    channel: str | None,
    epoch: int | None,
    scale: str | None,
) -> tuple[Any, list, bool, str]:
    """(figure, channel options, channel select disabled, caption) for the chosen filters."""
    if not layer:
        return figures.empty_figure(t("inspect.no_conv")), channel_options(0), True, ""
    at = _snapshot_at(store, run["id"], layer, epoch)
    kernel = run_data.load_filters(store, run["id"], layer, at)
    if kernel is None or kernel.ndim != 4:
        return map_figures.filter_grid(None), channel_options(0), True, ""
    kh, kw, cin, cout = kernel.shape
    colour = sees_colour(run, run_data.layer_infos(run), layer)
    picked = whole_number(channel, text=True)  # "²" is a digit to isdigit, not to int
    ch: int | str = MEAN if picked is None else picked
    if isinstance(ch, int) and not 0 <= ch < cin:
        ch = MEAN
    if channel == RGB and colour:
        ch = RGB
    fig = map_figures.filter_grid(kernel, ch, per_tile=scale != "layer")
    when = (
        t("inspect.when.initial")
        if at == 0
        else (t("inspect.when.epoch", epoch=at) if at else t("inspect.when.final"))
    )
    if cin == 1:
        what = t("inspect.what.gray", n=cout, kh=kh, kw=kw, when=when)
    elif ch == RGB:
        what = t("inspect.what.rgb", n=cout, kh=kh, kw=kw, when=when)
    elif ch == MEAN:
        what = t("inspect.what.mean", n=cout, kh=kh, kw=kw, cin=cin, when=when)
    else:
        what = t("inspect.what.slice", n=cout, kh=kh, kw=kw, ch=ch, when=when)
    return fig, channel_options(cin if cin > 1 else 0, colour), cin == 1, what


def _channel(channel: Any) -> int | str:
    picked = whole_number(channel, text=True)
    return MEAN if picked is None or picked < 0 else picked


def filter_detail(
    store: RunStore,
    run: dict[str, Any],
    layer: str | None,
    channel: str | None,
    epoch: int | None,
    click: dict | None,
) -> Any:
    if not layer or not click or not click.get("points"):
        return map_figures.channel_detail(None)
    idx = click["points"][0].get("pointIndex", click["points"][0].get("pointNumber"))
    at = _snapshot_at(store, run["id"], layer, epoch)
    tiles = map_figures.kernel_tiles(
        run_data.load_filters(store, run["id"], layer, at),
        _channel(channel),
    )
    if tiles is None or idx is None or not 0 <= idx < len(tiles):
        return map_figures.channel_detail(None)
    title = t("inspect.filter_title", layer=layer, i=idx)
    return map_figures.channel_detail(tiles[idx], title, colorscale="Gray")


def activations_card(
    store: RunStore, run: dict[str, Any], infos: list[LayerInfo], probe: dict[str, np.ndarray]
) -> dbc.Card:
    classes = run_data.class_names(run)
    first = infos[0].name if infos else None
    fig, probs, caption = activation_view(store, run, infos, probe, 0, first, "tile")
    controls = dbc.Row(
        [
            _labelled(
                t("inspect.layer"),
                dbc.Select(
                    id="run-act-layer", value=first, size="sm", options=select_layer_options(infos)
                ),
                md=4,
            ),
            _labelled(t("inspect.colour_per"), _scale_choice("run-act-scale"), md=4),
        ],
        class_name="g-2 mb-2",
    )
    body = html.Div(
        [
            html.Div(thumbs(probe, classes, 0), id="run-probe-thumbs", className="lens-thumbs"),
            test_input_row(run),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            controls,
                            html.Div(caption, id="run-act-caption", className="lens-help"),
                            graph("run-act", fig),
                        ],
                        lg=8,
                    ),
                    dbc.Col(
                        [
                            html.Div(t("inspect.prediction"), className="lens-label"),
                            components.explain(explanations.probabilities()),
                            graph("run-act-probs", probs),
                            html.Div(t("inspect.selected_map"), className="lens-label mt-2"),
                            graph("run-act-detail", map_figures.channel_detail(None)),
                            html.Div(id="run-act-page-link", className="small"),
                        ],
                        lg=4,
                    ),
                ],
                class_name="g-3 mt-1",
            ),
            dcc.Store(id="run-probe", data=0),
        ]
    )
    return components.section(
        t("inspect.maps"),
        body,
        explanations.feature_maps(),
    )


def activation_view(
    store: RunStore,
    run: dict[str, Any],
    infos: list[LayerInfo],
    probe: dict[str, np.ndarray] | None,
    selection: Any,
    layer: str | None,
    scale: str | None,
) -> tuple[Any, Any, str]:
    """(feature-map figure, probability figure, caption) for the selected input and a layer.

    `selection` is a probe index (int) or a test image extracted on demand ({"digest", ...}).
    """
    classes = run_data.class_names(run)
    if not isinstance(selection, dict) and (
        probe is None or not 0 <= int(selection or 0) < len(probe["inputs"])
    ):
        empty = figures.empty_figure(t("inspect.no_probe"))
        return empty, figures.class_probabilities(None), ""
    info = next((i for i in infos if i.name == layer), None)
    act = run_data.selected_activation(store, run["id"], selection, layer) if layer else None
    fig = map_figures.activation_grid(act, per_tile=scale != "layer", class_names=classes)
    probs, label = run_data.selected_prediction(store, run["id"], selection, probe)
    config_layers = (run.get("config") or {}).get("layers") or []
    cfg = config_layers[info.index] if info and info.index < len(config_layers) else None
    return fig, figures.class_probabilities(probs, classes, label), layer_caption(info, cfg)


def activation_detail(
    store: RunStore, run: dict[str, Any], selection: Any, layer: str | None, click: dict | None
) -> Any:
    if not layer or not click or not click.get("points"):
        return map_figures.channel_detail(None)
    point = click["points"][0]
    if point.get("curveNumber") != 1:
        return map_figures.channel_detail(None)
    act = run_data.selected_activation(store, run["id"], selection, layer)
    idx = point.get("pointIndex", point.get("pointNumber"))
    if act is None or act.ndim != 3 or idx is None or not 0 <= idx < act.shape[2]:
        return map_figures.channel_detail(None)
    return map_figures.channel_detail(act[:, :, idx], t("inspect.map_title", layer=layer, i=idx))
