"""Any test image through a run's model: ask the extraction worker, wait for its job, select it.

The probe set (one image per class) is ready at once; any other test image goes through
service.request_activations, which answers from the run's cache or queues an extraction job that
the page then polls. The selection stored in the browser is either a probe index (an int) or
{"test_index", "digest", "label"} for an extracted image.
"""

from __future__ import annotations

import re
import time
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html, no_update

from dashboard.service import run_actions
from dashboard.service.run_data import cached_arrays, class_names
from dashboard.ui import figures
from dashboard.ui.i18n import t
from dashboard.ui.messages import message
from dashboard.ui.montage import png_data_uri
from shared.datasets import DatasetUnavailable
from shared.queue import BrokerUnavailable
from shared.store import FAILED, SUCCEEDED, RunStore

JOB_POLL_MS = 800
PATIENCE = 20.0  # seconds before saying that no extraction worker seems to be there
GIVE_UP = 300.0  # seconds after which the page stops polling a job


def test_input_row(run: dict[str, Any]) -> html.Div:
    return html.Div(
        [
            dbc.InputGroup(
                [
                    dbc.InputGroupText(t("input.any_test")),
                    dbc.Input(
                        id="run-test-index",
                        type="number",
                        step=1,
                        placeholder=t("input.placeholder"),
                        min=0,
                    ),
                    dbc.Button(t("input.show"), id="run-test-show", color="primary", outline=True),
                ],
                size="sm",
                class_name="lens-test-input",
            ),
            html.Div(id="run-test-status", className="lens-test-status"),
            dcc.Store(id="run-job"),
            dcc.Interval(id="run-job-interval", interval=JOB_POLL_MS, disabled=True),
        ],
        className="lens-test-row",
    )


def _note(text: str, color: str = "muted") -> html.Span:
    return html.Span(text, className=f"text-{color} small")


def chosen(run: dict[str, Any], selection: dict[str, Any], arrays: dict | None) -> html.Div:
    """The extracted test image, its label and the model's prediction."""
    classes = class_names(run)
    label = int(selection.get("label", -1))
    name = classes[label] if 0 <= label < len(classes) else str(label)
    parts: list[Any] = [t("input.chosen", i=selection.get("test_index"), true=name)]
    img = (arrays or {}).get("input")
    probs = (arrays or {}).get("probabilities")
    if probs is not None:
        pred = int(np.argmax(probs))
        pname = classes[pred] if pred < len(classes) else str(pred)
        ok = pred == label
        parts.append(
            html.Span(
                t(
                    "input.predicted",
                    mark="✓" if ok else "✗",
                    pred=pname,
                    share=figures.fmt_share(float(probs[pred])),
                ),
                className="text-success" if ok else "text-danger",
            )
        )
    return html.Div(
        [
            html.Img(src=png_data_uri(np.asarray(img, dtype=np.uint8)), className="lens-mini")
            if img is not None
            else None,
            html.Span(parts, className="small fw-semibold"),
        ],
        className="lens-chosen",
    )


def request_test_input(store: RunStore, run: dict[str, Any], index: Any) -> tuple:
    """(selection, job, job interval disabled, status) after asking for test image `index`."""
    if index is None or not float(index).is_integer():
        return no_update, None, True, _note(t("input.type_number"), "danger")
    index = int(index)
    try:
        image, label = run_actions.test_image(run["dataset"], index)
        result = run_actions.request_activations(store, run["id"], image)
    except (run_actions.InputError, DatasetUnavailable) as exc:
        return no_update, None, True, _note(input_error(exc), "danger")
    except BrokerUnavailable:
        return (
            no_update,
            None,
            True,
            _note(t("input.queue_down"), "danger"),
        )
    selection = {"test_index": index, "digest": run_actions.input_hash(image), "label": label}
    if result["status"] == "cached":
        arrays = cached_arrays(store, run["id"], selection["digest"])
        return selection, None, True, chosen(run, selection, arrays)
    job = {"job_id": result["job_id"], "since": time.time(), **selection}
    return no_update, job, False, _note(t("input.running", i=index))


def poll_job(
    store: RunStore, run: dict[str, Any], job: dict[str, Any] | None, now: float | None = None
) -> tuple:
    """(selection, job, job interval disabled, status) while an extraction job runs."""
    if not job:
        return no_update, no_update, True, no_update
    row = store.get_job(str(job.get("job_id", "")))
    if row is None:
        return no_update, None, True, _note(t("input.job_gone"), "danger")
    if row["status"] == SUCCEEDED:
        selection = {k: job[k] for k in ("test_index", "digest", "label")}
        arrays = cached_arrays(store, run["id"], selection["digest"])
        return selection, None, True, chosen(run, selection, arrays)
    if row["status"] == FAILED:
        return no_update, None, True, _note(row.get("error") or t("input.failed"), "danger")
    waited = (now or time.time()) - float(job.get("since", 0))
    if waited > GIVE_UP:
        return no_update, None, True, _note(t("input.no_worker"), "danger")
    if waited > PATIENCE and row["status"] == "queued":
        return (
            no_update,
            no_update,
            no_update,
            _note(t("input.still_queued"), "warning"),
        )
    return no_update, no_update, no_update, no_update


def input_error(exc: Exception) -> str:
    """A test-image problem in the page's language (the service says it in English)."""
    match = re.match(r"test_index must be between 0 and (\d+) for (\S+)$", str(exc))
    if match:
        return t("input.out_of_range", last=match.group(1), dataset=match.group(2))
    return message(str(exc))


def thumb_classes(selection: Any, count: int) -> list[str]:
    k = selection if isinstance(selection, int) else None
    return ["lens-thumb" + (" selected" if i == k else "") for i in range(count)]
