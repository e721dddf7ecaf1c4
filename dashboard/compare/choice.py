"""What the compare page shows: the chosen runs (from the address or the picker), the rows the
picker offers, and the chosen input's preview."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.compare import inputs, picker
from dashboard.service import run_data
from dashboard.ui.i18n import t
from dashboard.ui.montage import png_data_uri
from shared.artifacts import is_run_id
from shared.store import RunStore

ALL_VALUE = picker.ANY
PREVIEW_SCALE = 4


def chosen_runs(store: RunStore, ids: Any, with_history: bool = False) -> list[dict[str, Any]]:
    """The runs named by `ids` (a list or "a,b,c"), in order, without repeats, at most four."""
    if isinstance(ids, str):
        ids = ids.split(",")
    out: list[dict[str, Any]] = []
    for run_id in ids or []:
        run_id = str(run_id).strip()
        if is_run_id(run_id) and run_id not in {r["id"] for r in out}:
            run = store.get_run(run_id, with_history=with_history)
            if run is not None:
                out.append(run)
    return out[: picker.MAX_RUNS]


def picker_data(store: RunStore, name: Any, dataset: Any, status: Any) -> list[dict[str, Any]]:
    runs = store.list_runs(
        status=None if status in (None, ALL_VALUE) else status,
        dataset=None if dataset in (None, ALL_VALUE) else dataset,
        name=(name or "").strip() or None,
        limit=500,
    )
    return picker.picker_rows(runs)


def preview(desc: dict[str, Any] | None, runs: list[dict[str, Any]]) -> tuple[Any, str]:
    image = inputs.input_image(desc)
    src = png_data_uri(image, scale=PREVIEW_SCALE) if image is not None else None
    classes = run_data.class_names(runs[0]) if runs else ()
    return src, inputs.describe(desc, classes)


def waiting_message(count: int) -> Any:
    text = t("compare.tick_two") if count < 2 else t("compare.preparing")
    return html.Div(text, className="lens-empty lens-card")
