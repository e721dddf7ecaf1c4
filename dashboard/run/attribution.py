"""The run page's attribution card: which pixels of the selected input counted for a class.

The input is the one the feature maps show (a probe image or any test image, `run-probe`); the
card asks `service.attributions` for the chosen method and class, shows the map over the digit,
and polls the job when the worker has to compute it. With the sanity check on, the same method on
the model with re-initialised weights is drawn beside it on the same colour scale, with how
similar the two maps are. Callbacks are collected in `callbacks` and registered by pages/run.py.
"""

from __future__ import annotations

import time
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from dashboard.run.attribution_caption import shown
from dashboard.service import attributions, run_actions, run_data
from dashboard.state import get_store
from dashboard.ui import components, figures
from dashboard.ui.components import graph
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from dashboard.ui.page_callbacks import PageCallbacks
from shared import attribution_result as ar
from shared.datasets import DatasetUnavailable
from shared.numbers import whole_number
from shared.queue import BrokerUnavailable
from shared.store import SUCCEEDED, RunStore

callbacks = PageCallbacks()
POLL_MS = 600
GIVE_UP = 120.0  # seconds before the card stops waiting for a job
PREDICTED, TRUE, ANY = "predicted", "true", "any"


def method_options() -> list[dict[str, str]]:
    return [{"label": t(f"attr.method.{m}"), "value": m} for m in ar.METHODS]


def baseline_options() -> list[dict[str, str]]:
    return [{"label": t(f"attr.baseline.{b}"), "value": b} for b in ar.BASELINES]


def class_modes(with_true: bool = True) -> list[dict[str, str]]:
    modes = (PREDICTED, TRUE, ANY) if with_true else (PREDICTED, ANY)
    return [{"label": t(f"attr.class.{m}"), "value": m} for m in modes]


def _labelled(label: str, control: Any, md: int) -> dbc.Col:
    return dbc.Col([html.Span(label, className="lens-label"), control], md=md)


def card(run: dict[str, Any]) -> dbc.Card:
    classes = run_data.class_names(run)
    convs = attributions.conv_layers(run)
    controls = dbc.Row(
        [
            _labelled(
                t("attr.method"),
                dbc.Select(
                    id="run-attr-method", options=method_options(), value="saliency", size="sm"
                ),
                3,
            ),
            _labelled(
                t("attr.class"),
                dbc.RadioItems(
                    id="run-attr-class",
                    options=class_modes(),
                    value=PREDICTED,
                    inline=True,
                    class_name="lens-radio",
                ),
                3,
            ),
            _labelled(
                t("attr.class.choose"),
                dbc.Select(
                    id="run-attr-target",
                    options=[{"label": name, "value": str(i)} for i, name in enumerate(classes)],
                    value="0",
                    size="sm",
                    disabled=True,
                ),
                2,
            ),
            _labelled(
                t("attr.layer"),
                dbc.Select(
                    id="run-attr-layer",
                    options=[{"label": name, "value": name} for name in convs],
                    value=convs[-1] if convs else None,
                    size="sm",
                    disabled=True,
                ),
                2,
            ),
            _labelled(
                t("attr.baseline"),
                dbc.Select(
                    id="run-attr-baseline",
                    options=baseline_options(),
                    value=ar.DEFAULT_BASELINE,
                    size="sm",
                    disabled=True,
                ),
                2,
            ),
        ],
        class_name="g-2 mb-2",
    )
    sanity = dbc.Switch(
        id="run-attr-sanity", label=t("attr.sanity.switch"), value=False, class_name="mb-1"
    )
    body = html.Div(
        [
            controls,
            sanity,
            dbc.Row(
                [
                    dbc.Col(graph("run-attr-fig", figures.empty_figure("…", height=300)), lg=7),
                    dbc.Col(html.Div(id="run-attr-caption", className="lens-help"), lg=5),
                ],
                class_name="g-3",
            ),
            dcc.Store(id="run-attr-job"),
            dcc.Interval(id="run-attr-interval", interval=POLL_MS, disabled=True),
        ]
    )
    return components.section(t("attr.title"), body, components.tr("attr.help"))


def controls_state(method: str | None, mode: str | None) -> tuple[bool, bool, bool]:
    """(class select, layer select, baseline select) disabled?"""
    return mode != ANY, method not in ar.LAYER_METHODS, method != "integrated_gradients"


def chosen_input(
    store: RunStore, run: dict[str, Any], selection: Any
) -> tuple[np.ndarray | None, int | None]:
    """The image the feature maps show, and its true class."""
    if isinstance(selection, dict):
        try:
            image, label = run_actions.test_image(run["dataset"], int(selection["test_index"]))
        except (KeyError, TypeError, ValueError, run_actions.InputError, DatasetUnavailable):
            return None, None
        return image, label
    probe = run_data.load_probe(store, run["id"])
    k = int(selection or 0)
    if probe is None or not 0 <= k < len(probe["inputs"]):
        return None, None
    return np.asarray(probe["inputs"][k]), int(probe["labels"][k])


def _message(text: str, color: str = "muted") -> tuple:
    return figures.empty_figure(text, height=300), html.Span(text, className=f"text-{color}")


def request_view(
    store: RunStore,
    run: dict[str, Any],
    selection: Any,
    method: str | None,
    mode: str | None,
    target: str | None,
    layer: str | None,
    baseline: str | None,
    sanity: bool | None,
) -> tuple:
    """(figure, caption, job, polling disabled) after asking for the chosen attribution."""
    if run["status"] != SUCCEEDED:
        return (*_message(t("attr.not_trained")), None, True)
    image, label = chosen_input(store, run, selection)
    if image is None:
        return (*_message(t("attr.no_input")), None, True)
    chosen: Any = {PREDICTED: "predicted", TRUE: "true"}.get(str(mode))
    if chosen is None:
        chosen = whole_number(target, text=True)  # "²" is a digit to isdigit, not to int
    body = {
        "method": method,
        "target": chosen,
        "layer": layer if method in ar.LAYER_METHODS else None,
        "baseline": baseline if method == "integrated_gradients" else None,
        "sanity_check": bool(sanity),
    }
    try:
        params = attributions.validate(run, body, label)
        answer = attributions.request_attribution(store, run, image, params)
    except attributions.AttributionInvalid as exc:
        return (*_message(message(str(exc)), "danger"), None, True)
    except attributions.InputError as exc:
        return (*_message(message(str(exc)), "danger"), None, True)
    except BrokerUnavailable:
        return (*_message(t("input.queue_down"), "danger"), None, True)
    digest = attributions.input_hash(image)
    if answer["status"] == "cached":
        out = shown(store, run, digest, params)
        if out is not None:
            return (*out, None, True)
    job = {"job_id": answer.get("job_id"), "digest": digest, "params": params, "since": time.time()}
    return (*_message(t("attr.computing")), job, False)


def poll_view(
    store: RunStore, run: dict[str, Any], job: dict[str, Any] | None, now: float | None = None
) -> tuple:
    """(figure, caption, job, polling disabled) while the worker computes."""
    if not job:
        return no_update, no_update, None, True
    status, detail = attributions.job_result(store, str(job.get("job_id", "")))
    if status == SUCCEEDED:
        out = shown(store, run, job["digest"], job["params"])
        if out is not None:
            return (*out, None, True)
        return (*_message(t("input.job_gone"), "danger"), None, True)
    if status == "failed":
        return (*_message(message(str(detail or t("input.failed"))), "danger"), None, True)
    if status == "gone":
        return (*_message(t("input.job_gone"), "danger"), None, True)
    if (now or time.time()) - float(job.get("since", 0)) > GIVE_UP:
        return (*_message(t("input.no_worker"), "danger"), None, True)
    fraction = attributions.job_progress(store, str(job.get("job_id", "")))
    if fraction is not None:  # a long one (a sanity check's first run, say): how far it is
        return no_update, components.computing_caption(fraction), no_update, no_update
    return no_update, no_update, no_update, no_update


def _on_run(run_id: str, missing: Any, view: Any, *args: Any) -> Any:
    store = get_store()
    run = store.get_run(run_id, with_history=False)
    return missing if run is None else view(store, run, *args)


@callbacks(
    Output("run-attr-target", "disabled"),
    Output("run-attr-layer", "disabled"),
    Output("run-attr-baseline", "disabled"),
    Input("run-attr-method", "value"),
    Input("run-attr-class", "value"),
)
def enable_controls(method, mode):
    return controls_state(method, mode)


@callbacks(
    Output("run-attr-fig", "figure"),
    Output("run-attr-caption", "children"),
    Output("run-attr-job", "data"),
    Output("run-attr-interval", "disabled"),
    Input("run-probe", "data"),
    Input("run-attr-method", "value"),
    Input("run-attr-class", "value"),
    Input("run-attr-target", "value"),
    Input("run-attr-layer", "value"),
    Input("run-attr-baseline", "value"),
    Input("run-attr-sanity", "value"),
    State("run-id", "data"),
)
def ask(selection, method, mode, target, layer, baseline, sanity, run_id):
    return _on_run(
        run_id,
        (no_update, no_update, None, True),
        request_view,
        selection,
        method,
        mode,
        target,
        layer,
        baseline,
        sanity,
    )


@callbacks(
    Output("run-attr-fig", "figure", allow_duplicate=True),
    Output("run-attr-caption", "children", allow_duplicate=True),
    Output("run-attr-job", "data", allow_duplicate=True),
    Output("run-attr-interval", "disabled", allow_duplicate=True),
    Input("run-attr-interval", "n_intervals"),
    State("run-attr-job", "data"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def wait(_n, job, run_id):
    return _on_run(run_id, (no_update, no_update, None, True), poll_view, job)
