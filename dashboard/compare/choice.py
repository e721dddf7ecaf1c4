"""What the compare page shows: the chosen runs (from the address or the picker), the rows the
picker offers, and the chosen input's preview."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.compare import inputs, picker
from dashboard.service import datasets as dataset_service
from dashboard.service import run_data
from dashboard.ui.i18n import t
from dashboard.ui.montage import png_data_uri
from shared.artifacts import is_run_id
from shared.store import RunStore

ALL_VALUE = picker.ANY
PREVIEW_SCALE = 4


def chosen_ids(ids: Any) -> list[str]:
    """The first four distinct well-formed run ids of `ids` (a list or "a,b,c"), in order.

    An address or a callback can carry any number of ids (or anything else): they are deduplicated
    and cut to four before a single one is looked up, so 250,000 of them cost no more than four.
    """
    if isinstance(ids, str):
        ids = ids.split(",")
    if not isinstance(ids, list | tuple):
        return []
    out: list[str] = []
    for value in ids:
        run_id = value.strip() if isinstance(value, str) else ""
        if is_run_id(run_id) and run_id not in out:
            out.append(run_id)
            if len(out) == picker.MAX_RUNS:
                break
    return out


def chosen_runs(store: RunStore, ids: Any, with_history: bool = False) -> list[dict[str, Any]]:
    """The runs named by `ids` (a list or "a,b,c"), in order, without repeats, at most four."""
    runs = (store.get_run(run_id, with_history=with_history) for run_id in chosen_ids(ids))
    return [run for run in runs if run is not None]


def picker_data(store: RunStore, name: Any, dataset: Any, status: Any) -> list[dict[str, Any]]:
    runs = store.list_runs(
        status=None if status in (None, ALL_VALUE) else status,
        dataset=None if dataset in (None, ALL_VALUE) else dataset,
        name=(name or "").strip() or None,
        limit=500,
    )
    return picker.picker_rows(runs, dataset_service.imported_names(store))


def preview(desc: dict[str, Any] | None, runs: list[dict[str, Any]]) -> tuple[Any, str]:
    image = inputs.input_image(desc)
    src = png_data_uri(image, scale=PREVIEW_SCALE) if image is not None else None
    classes = run_data.class_names(runs[0]) if runs else ()
    return src, inputs.describe(desc, classes)


def waiting_message(count: int) -> Any:
    text = t("compare.tick_two") if count < 2 else t("compare.preparing")
    return html.Div(text, className="lens-empty lens-card")
