"""What the chosen runs make of the input, and what they learned: one column per run.

Pure updates of the compare page's views (store and arguments in, components and figures out):
predictions, feature maps at a layer depth, and filters (raw or aligned to run A). `status` is `ci.status()`: where each run's answer
comes from and which analysis is ready.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from dashboard.compare import charts, inputs, page_status
from dashboard.service import comparisons, run_data
from dashboard.ui import components, map_figures
from dashboard.ui.components import graph
from dashboard.ui.i18n import number, t
from dashboard.ui.messages import message
from shared.analysis import align_filters
from shared.config import LayerInfo

SCALE_MAP, SCALE_RUN, SCALE_SHARED = "map", "run", "shared"
ALIGNED, RAW = "aligned", "raw"


def scales() -> list[dict[str, Any]]:
    """The colour-scale choices of the feature maps, in the page's language."""
    return [
        {"label": t(f"compare.scale.{value}"), "value": value}
        for value in (SCALE_MAP, SCALE_RUN, SCALE_SHARED)
    ]


def _column(i: int, run: dict[str, Any], title: str, body: Any, count: int) -> dbc.Col:
    head = html.Div(
        [html.B(charts.letter(i), className="lens-cmp-letter"), html.Span(title)],
        className="lens-cmp-col-head",
        style={"borderBottomColor": charts.RUN_COLORS[i]},
    )
    return dbc.Col(html.Div([head, body], className="lens-cmp-col"), md=12 // count)


def _note(text: str) -> html.Div:
    return html.Div(text, className="lens-cmp-wait")


def _waiting(src: dict[str, Any]) -> str | None:
    if "error" in src:
        return t("compare.wait.no_answer", error=message(str(src["error"])))
    if "pending" in src:
        return t("compare.wait.running")
    if not src:
        return t("compare.wait.choose_input")
    return None


def dead_channels(store: Any, run: dict[str, Any], layer: str, state: str | None) -> set[int]:
    if state != page_status.READY:
        return set()
    stats = comparisons.load_stats(store, run["id"]) or {}
    for entry in stats.get("layers", []):
        if entry["name"] == layer:
            return {row["channel"] for row in entry["filters"] if row["dead"]}
    return set()


# --- predictions -----------------------------------------------------------------------------------


def predictions(
    store: Any, runs: list[dict[str, Any]], state: dict[str, Any] | None, label: int | None
) -> list[Any]:
    cols = []
    for i, run in enumerate(runs):
        src = (state or {}).get("sources", {}).get(run["id"], {})
        classes = run_data.class_names(run)
        wait = _waiting(src) if state else "…"
        probs = None if wait else inputs.probabilities(store, run, src)
        if probs is None:
            cols.append(
                _column(i, run, run["name"], _note(wait or t("compare.no_prediction")), len(runs))
            )
            continue
        pred = int(np.argmax(probs))
        name = classes[pred] if pred < len(classes) else str(pred)
        title = t(
            "compare.predicts",
            name=run["name"],
            label=name,
            pct=components.fmt_pct(float(probs[pred]), 0),
        )
        fig = charts.probabilities(probs, classes, label)
        cols.append(_column(i, run, title, graph(f"cmp-pred-{i}", fig), len(runs)))
    return cols


# --- feature maps at a depth -----------------------------------------------------------------------


def depth_options(infos: list[list[LayerInfo]]) -> list[dict[str, Any]]:
    """Layer k of every run; its name once when all runs agree, else one name per run."""
    options = []
    for k in range(max((len(i) for i in infos), default=0)):
        at = [run_infos[k] if k < len(run_infos) else None for run_infos in infos]
        kinds = {(a.name, a.output_shape) for a in at if a is not None}
        names = {a.name for a in at if a is not None}
        if len(kinds) == 1 and None not in at:
            name, shape = kinds.pop()
            label = f"{k + 1} · {name} · {'×'.join(map(str, shape))}"
        elif len(names) == 1 and None not in at:
            label = f"{k + 1} · {names.pop()} · {t('compare.depth.shapes_differ')}"
        else:
            label = f"{k + 1} · " + " · ".join(
                f"{charts.letter(i)} {a.name if a else '—'}" for i, a in enumerate(at)
            )
        options.append({"label": label, "value": str(k)})
    return options


def _maps(act: np.ndarray) -> np.ndarray | None:
    """(h, w, c) feature maps as (c, h, w) tiles; None for a flat output."""
    return act.transpose(2, 0, 1) if act.ndim == 3 else None


def activations(
    store: Any,
    runs: list[dict[str, Any]],
    infos: list[list[LayerInfo]],
    state: dict[str, Any] | None,
    depth: int,
    scale: str,
) -> list[Any]:
    """The k-th layer's output of every run for the input, side by side."""
    acts: list[tuple[LayerInfo | None, np.ndarray | None, str | None]] = []
    for run, run_infos in zip(runs, infos, strict=True):
        info = run_infos[depth] if depth < len(run_infos) else None
        src = (state or {}).get("sources", {}).get(run["id"], {})
        wait = (_waiting(src) if state else "…") or (None if info else t("compare.no_layer"))
        act = None if wait or info is None else inputs.activation(store, run, src, info.name)
        acts.append((info, act, wait))
    present = [a for _, a, _ in acts if a is not None]
    shared = None
    if scale == SCALE_SHARED and present:
        shared = (min(float(a.min()) for a in present), max(float(a.max()) for a in present))
    cols = []
    for i, (run, (info, act, wait)) in enumerate(zip(runs, acts, strict=True)):
        if act is None or info is None:
            title = info.name if info else "—"
            cols.append(
                _column(i, run, title, _note(wait or t("compare.no_activations")), len(runs))
            )
            continue
        title = f"{info.name} · {'×'.join(map(str, act.shape))}"
        maps = _maps(act)
        if maps is None:
            fig = charts.flat_output(act, run_data.class_names(run), shared, charts.RUN_COLORS[i])
        else:
            if scale == SCALE_MAP:
                tiles = charts.scaled(maps)
            else:
                lo, hi = shared or (float(maps.min()), float(maps.max()))
                tiles = charts.scaled(maps, lo, hi)
            dead = dead_channels(
                store, run, info.name, (state or {}).get("stats", {}).get(run["id"])
            )
            fig = charts.tile_grid(
                tiles,
                [f"#{c}" for c in range(len(maps))],
                [_map_hover(c, m, c in dead) for c, m in enumerate(maps)],
                cmap="viridis",
                outlined=sorted(dead),
                columns=len(runs),
            )
        shown = (
            charts.tile_graph(f"cmp-act-{i}", fig)
            if maps is not None
            else graph(f"cmp-act-{i}", fig)
        )
        cols.append(_column(i, run, title, shown, len(runs)))
    return cols


def _map_hover(c: int, m: np.ndarray, dead: bool) -> str:
    note = "<br>" + t("compare.hover.map_dead") if dead else ""
    values = {
        k: number(f"{v:.3g}") for k, v in (("min", m.min()), ("max", m.max()), ("mean", m.mean()))
    }
    return t("compare.hover.map", c=c) + "<br>" + t("fig.stats", **values) + note


# --- filters ---------------------------------------------------------------------------------------


def conv_options(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    convs = [comparisons.conv_layers(run) for run in runs]
    options = []
    for k in range(max((len(c) for c in convs), default=0)):
        at = [c[k] if k < len(c) else None for c in convs]
        kinds = {(a.name, a.kernel_shape) for a in at if a is not None}
        if len(kinds) == 1 and None not in at:
            name, shape = kinds.pop()
            label = t(
                "compare.conv_option", k=k + 1, name=name, kh=shape[0], kw=shape[1], n=shape[3]
            )
        else:
            names = " · ".join(
                f"{charts.letter(i)} {a.name if a else '—'}" for i, a in enumerate(at)
            )
            label = t("compare.conv_option.mixed", k=k + 1, names=names)
        options.append({"label": label, "value": str(k)})
    return options


def max_epoch(store: Any, runs: list[dict[str, Any]]) -> int:
    """The last epoch any run has a filter snapshot of (0 when none has any)."""
    snaps = [
        run_data.filter_snapshots(store, run["id"], conv.name)
        for run in runs
        for conv in comparisons.conv_layers(run)[:1]
    ]
    return max(max(snaps, default=1) - 1, 0)


def _kernel_at(
    store: Any, run: dict[str, Any], layer: str, epoch: int | None
) -> tuple[Any, bool, str]:
    """(kernel, whether it is the final one, when it is from) for the slider's epoch."""
    snaps = run_data.filter_snapshots(store, run["id"], layer)
    at = None if epoch is None or snaps == 0 or epoch >= snaps - 1 else int(epoch)
    if at is None:
        when = t("compare.when.final")
    else:
        when = t("compare.when.initial") if at == 0 else t("compare.when.epoch", epoch=at)
    return run_data.load_filters(store, run["id"], layer, at), at is None, when


def filters(
    store: Any,
    runs: list[dict[str, Any]],
    depth: int,
    epoch: int | None,
    mode: str,
    state: dict[str, Any] | None,
) -> list[Any]:
    """The k-th conv layer's filters of every run; aligned to run A's order when asked."""
    layers = [comparisons.conv_layers(run) for run in runs]
    kernels = []
    for run, convs in zip(runs, layers, strict=True):
        info = convs[depth] if depth < len(convs) else None
        kernel, final, when = (
            _kernel_at(store, run, info.name, epoch) if info else (None, False, "")
        )
        kernels.append((info, kernel, final, when))
    ref = kernels[0][1]
    cols = []
    for i, (run, (info, kernel, final, when)) in enumerate(zip(runs, kernels, strict=True)):
        if info is None or kernel is None:
            note = t("compare.no_conv_layer") if info is None else t("compare.no_filters")
            cols.append(_column(i, run, info.name if info else "—", _note(note), len(runs)))
            continue
        # The first conv layer on colour input: its filters in colour, as on the run page.
        tiles = map_figures.kernel_tiles(kernel, map_figures.RGB if depth == 0 else None)
        assert tiles is not None
        order, corr, note = list(range(len(tiles))), [None] * len(tiles), ""
        if mode == ALIGNED and i > 0 and ref is not None:
            if np.shape(ref) == np.shape(kernel):
                match = align_filters(ref, kernel)
                order = match["order_b"]
                corr = [p["correlation"] for p in match["pairs"]]
                note = t("compare.mean_r", r=number(f"{match['mean_correlation']:.2f}"))
            else:
                note = t("compare.raw_differ")
        stats_state = (state or {}).get("stats", {}).get(run["id"])
        dead = dead_channels(store, run, info.name, stats_state) if final else set()
        labels = [
            f"#{j}" if r is None else f"#{j} {number(f'{r:.2f}')}"
            for j, r in zip(order, corr, strict=True)
        ]
        hovers = [
            t("compare.hover.filter", j=j)
            + ("" if r is None else "<br>" + t("compare.hover.matched", p=p, r=number(f"{r:.3f}")))
            + ("<br>" + t("compare.hover.dead") if j in dead else "")
            for p, (j, r) in enumerate(zip(order, corr, strict=True))
        ]
        fig = charts.tile_grid(
            charts.scaled(tiles[order]),
            labels,
            hovers,
            cmap="gray",
            outlined=[p for p, j in enumerate(order) if j in dead],
            columns=len(runs),
            target=42,
            max_tile_px=56,
        )
        title = t("compare.filters.column", name=info.name, n=len(tiles), when=when, note=note)
        cols.append(_column(i, run, title, charts.tile_graph(f"cmp-filt-{i}", fig), len(runs)))
    return cols
