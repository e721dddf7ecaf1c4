"""The compare page's attribution card: one input, one method, every run, one colour scale.

Each run's map comes from its run folder or from an attribution job on the extraction queue
(service.attributions); the card polls while any is computing. The colour scale is shared: its
half-width is the largest |value| over all the runs' maps, so one colour is one value in every
column. Callbacks are collected in `callbacks` and registered by pages/compare.py.
"""

from __future__ import annotations

import time
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from dashboard.compare import charts, choice, inputs
from dashboard.service import attributions, comparisons, run_data
from dashboard.state import get_store
from dashboard.ui import attribution_figure, components, figures
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from dashboard.ui.page_callbacks import PageCallbacks
from shared import attribution_result as ar
from shared.numbers import whole_number
from shared.queue import BrokerUnavailable
from shared.store import SUCCEEDED, RunStore

callbacks = PageCallbacks()
POLL_MS = 700
GIVE_UP = 120.0  # seconds of waiting before the card says no worker answers
LAST = "last"
PREDICTED, TRUE, ANY = "predicted", "true", "any"


def layer_options(runs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Grad-CAM's layer: each run's last conv layer, or the k-th conv layer of every run."""
    deepest = max((len(comparisons.conv_layers(run)) for run in runs), default=0)
    return [{"label": t("attr.compare.layer_last"), "value": LAST}] + [
        {"label": t("attr.compare.layer_k", k=k + 1), "value": str(k)} for k in range(deepest)
    ]


def _control(label: str, control: Any, md: int) -> dbc.Col:
    return dbc.Col([html.Span(label, className="lens-label"), control], md=md)


def card(runs: list[dict[str, Any]]) -> dbc.Card:
    classes = run_data.class_names(runs[0]) if runs else ()
    controls = dbc.Row(
        [
            _control(
                t("attr.method"),
                dbc.Select(
                    id="cmp-attr-method",
                    options=[{"label": t(f"attr.method.{m}"), "value": m} for m in ar.METHODS],
                    # Grad-CAM is one click away; after the notebook's flatten and dense layers
                    # its map is 0 everywhere for most inputs, HiResCAM's is not.
                    value="hirescam",
                    size="sm",
                ),
                3,
            ),
            _control(
                t("attr.class"),
                dbc.RadioItems(
                    id="cmp-attr-class",
                    options=[
                        {"label": t(f"attr.class.{m}"), "value": m} for m in (PREDICTED, TRUE, ANY)
                    ],
                    value=PREDICTED,
                    inline=True,
                    class_name="lens-radio",
                ),
                3,
            ),
            _control(
                t("attr.class.choose"),
                dbc.Select(
                    id="cmp-attr-target",
                    options=[{"label": name, "value": str(i)} for i, name in enumerate(classes)],
                    value="0",
                    size="sm",
                ),
                2,
            ),
            _control(
                t("attr.compare.layer"),
                dbc.Select(id="cmp-attr-layer", options=layer_options(runs), value=LAST, size="sm"),
                4,
            ),
        ],
        class_name="g-2 mb-2",
    )
    return components.section(
        t("attr.compare.title"),
        html.Div(
            [
                controls,
                dbc.Row(id="cmp-attr", class_name="g-3"),
                dcc.Interval(id="cmp-attr-poll", interval=POLL_MS, disabled=True),
                dcc.Store(id="cmp-attr-since"),  # when the card started waiting (server clock)
            ]
        ),
        components.tr("attr.compare.help"),
    )


def _column(i: int, run: dict[str, Any], title: str, body: Any, count: int) -> dbc.Col:
    head = html.Div(
        [html.B(charts.letter(i), className="lens-cmp-letter"), html.Span(title)],
        className="lens-cmp-col-head",
        style={"borderBottomColor": charts.RUN_COLORS[i % len(charts.RUN_COLORS)]},
    )
    return dbc.Col(html.Div([head, body], className="lens-cmp-col"), md=12 // max(count, 1))


def _body(method: Any, mode: Any, target: Any, layer: str | None) -> dict[str, Any]:
    """The request of every run ("true" on a picture is refused by `validate`, which says why)."""
    chosen: Any = {PREDICTED: "predicted", TRUE: "true"}.get(str(mode))
    if chosen is None:
        chosen = whole_number(target, text=True)  # "²" is a digit to isdigit, not to int
    return {"method": method, "target": chosen, "layer": layer}


def _layer(run: dict[str, Any], choice_value: Any) -> str | None:
    convs = comparisons.conv_layers(run)
    names = [info.name for info in convs]
    if not names:
        return None
    k = None if choice_value in (None, LAST) else whole_number(choice_value, text=True)
    if k is None:
        return names[-1]
    return names[k] if 0 <= k < len(names) else None


def one_run(
    store: RunStore,
    run: dict[str, Any],
    image: np.ndarray,
    label: int | None,
    method: Any,
    mode: Any,
    target: Any,
    layer_choice: Any,
    ask: bool,
) -> dict[str, Any]:
    """{"arrays", "result"} when ready, {"pending": True, "progress": fraction or None}, or
    {"note": sentence} for one run."""
    if run["status"] != SUCCEEDED:
        return {"note": inputs.not_trained(run)}
    layer = _layer(run, layer_choice) if method in ar.LAYER_METHODS else None
    if method in ar.LAYER_METHODS and layer is None:
        return {"note": t("compare.no_conv_layer")}
    try:
        params = attributions.validate(run, _body(method, mode, target, layer), label)
    except attributions.AttributionInvalid as exc:
        return {"note": message(str(exc))}
    digest = attributions.input_hash(image)
    result = attributions.cached_result(store, run, digest, params)
    if result is None and ask:
        try:
            attributions.request_attribution(store, run, image, params)
        except BrokerUnavailable:
            return {"note": inputs.queue_down()}
        except attributions.InputError as exc:
            return {"note": message(str(exc))}
        result = attributions.cached_result(store, run, digest, params)
    if result is None:
        job_id = ar.attribution_job_id(run["id"], ar.attribution_key(digest, params))
        status, detail = attributions.job_result(store, job_id)
        if status == "failed":
            return {"note": message(str(detail or t("compare.state.job_failed")))}
        return {"pending": True, "progress": attributions.job_progress(store, job_id)}
    arrays = attributions.cached_arrays(store, run["id"], digest, params)
    if arrays is None:
        return {"pending": True, "progress": None}
    return {"arrays": arrays, "result": result}


def view(
    store: RunStore,
    runs: list[dict[str, Any]],
    desc: dict[str, Any] | None,
    method: Any,
    mode: Any,
    target: Any,
    layer_choice: Any,
    ask: bool,
) -> tuple[list[Any], bool, bool]:
    """(one column per run, whether any map is still being computed, whether a job computing one
    says how far it has got: the columns are worth redrawing while it moves)."""
    image = inputs.input_image(desc)
    if image is None or not runs:
        return [html.Div(t("compare.wait.choose_input"), className="lens-cmp-wait")], False, False
    label = int(desc["label"]) if desc and desc.get("kind") == "test" else None
    answers = [
        one_run(store, run, image, label, method, mode, target, layer_choice, ask) for run in runs
    ]
    scale = attribution_figure.value_range(
        [a["arrays"]["attribution"] for a in answers if "arrays" in a]
    )
    cols = []
    for i, (run, answer) in enumerate(zip(runs, answers, strict=True)):
        if "arrays" not in answer:
            note: Any = answer.get("note") or t("compare.wait.running")
            if answer.get("progress") is not None:
                note = components.computing_caption(answer["progress"])
            cols.append(
                _column(i, run, run["name"], html.Div(note, className="lens-cmp-wait"), len(runs))
            )
            continue
        result, arrays = answer["result"], answer["arrays"]
        classes = run_data.class_names(run)
        k = int(result["target"])
        name = classes[k] if 0 <= k < len(classes) else str(k)
        probs = result.get("probabilities") or []
        share = probs[k] if k < len(probs) and probs[k] is not None else 0.0
        title = t("attr.compare.column", method=t(f"attr.method.{result['method']}"), name=name)
        fig = attribution_figure.overlays(
            [(arrays["input"], arrays["attribution"], "")], vmax=scale, height=260
        )
        caption = t(
            "attr.explains",
            name=name,
            share=figures.fmt_share(float(share)),
            how=t(f"attr.target_was.{result['target_was']}"),
        )
        if result.get("layer"):
            caption += " " + t("attr.on_layer", layer=result["layer"])
        if result["method"] == "gradcam" and result["max"] <= 0:
            caption += " " + t("attr.gradcam_zero")
        body = html.Div(
            [graph(f"cmp-attr-{i}", fig), html.Div(caption, className="lens-faint small")]
        )
        cols.append(_column(i, run, f"{run['name']} · {title}", body, len(runs)))
    pending = [a for a in answers if a.get("pending")]
    return cols, bool(pending), any(a.get("progress") is not None for a in pending)


@callbacks(
    Output("cmp-attr", "children"),
    Output("cmp-attr-poll", "disabled"),
    Output("cmp-attr-since", "data"),
    Input("cmp-body-runs", "data"),
    Input("cmp-input", "data"),
    Input("cmp-attr-method", "value"),
    Input("cmp-attr-class", "value"),
    Input("cmp-attr-target", "value"),
    Input("cmp-attr-layer", "value"),
)
def show(ids, desc, method, mode, target, layer):
    store = get_store()
    cols, waiting, _moving = view(
        store, choice.chosen_runs(store, ids), desc, method, mode, target, layer, ask=True
    )
    return cols, not waiting, time.time() if waiting else None


@callbacks(
    Output("cmp-attr", "children", allow_duplicate=True),
    Output("cmp-attr-poll", "disabled", allow_duplicate=True),
    Input("cmp-attr-poll", "n_intervals"),
    State("cmp-attr-since", "data"),
    State("cmp-body-runs", "data"),
    State("cmp-input", "data"),
    State("cmp-attr-method", "value"),
    State("cmp-attr-class", "value"),
    State("cmp-attr-target", "value"),
    State("cmp-attr-layer", "value"),
    prevent_initial_call=True,
)
def poll(_n, since, ids, desc, method, mode, target, layer):
    return poll_view(get_store(), ids, desc, method, mode, target, layer, since, time.time())


def poll_view(
    store: RunStore,
    ids: Any,
    desc: Any,
    method: Any,
    mode: Any,
    target: Any,
    layer: Any,
    since: float | None,
    now: float,
) -> tuple[Any, bool]:
    """(columns or no_update, polling disabled): the maps once none is computing any more, the
    columns again while a job says how far it has got, or a sentence after GIVE_UP seconds
    without an answer."""
    cols, waiting, moving = view(
        store, choice.chosen_runs(store, ids), desc, method, mode, target, layer, ask=False
    )
    if not waiting:
        return cols, True
    if since is not None and now - float(since) > GIVE_UP:
        return [html.Div(t("input.no_worker"), className="lens-cmp-wait")], True
    return (cols if moving else no_update), False
