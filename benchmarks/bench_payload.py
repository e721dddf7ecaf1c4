"""Row 7, activations payload: what the browser receives for one layer's feature-map grid, and how
long it takes to draw, against the obvious alternative of one heatmap cell per activation.

A real run (the default model, one epoch on mnist-sample) is trained by a worker; the run page's
activation callback is then called over HTTP for conv2d_1 (26×26×16) and conv2d_2 (11×11×32) of
probe image 0, and its response bytes are counted. The baseline figure is `px.imshow` of the same
arrays with one facet per channel (a heatmap of every value, not `binary_string`). Drawing time is
measured in headless Chromium: JSON.parse plus `Plotly.react` into an empty div, until two
animation frames later, median of several draws.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import plotly.express as px
import requests

from benchmarks.dash_client import Callback
from benchmarks.rows import row
from benchmarks.services import Services
from shared.store import SUCCEEDED

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
LAYERS = ("conv2d_1", "conv2d_2")

DRAW = """async (text) => {
  const holder = document.getElementById("graph");
  Plotly.purge(holder);
  const started = performance.now();
  const fig = JSON.parse(text);
  await Plotly.react(holder, fig.data, fig.layout);
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  return performance.now() - started;
}"""


def heatmap_baseline(activation: np.ndarray) -> str:
    """Every activation a heatmap cell, one facet per channel: the figure a first draft sends."""
    channels = np.asarray(activation, dtype=np.float32).transpose(2, 0, 1)
    columns = 4 if len(channels) <= 16 else 8
    fig = px.imshow(
        channels,
        facet_col=0,
        facet_col_wrap=columns,
        color_continuous_scale="viridis",
        facet_row_spacing=0.02,
        facet_col_spacing=0.01,
    )
    return fig.to_json()


def draw_times(figures: dict[str, str], repeat: int) -> dict[str, float]:
    """Median milliseconds to parse and draw each figure JSON in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_content('<div id="graph" style="width:1100px;height:900px"></div>')
            page.add_script_tag(path=str(PLOTLY_JS))
            out = {}
            for name, text in figures.items():
                page.evaluate(DRAW, text)  # first draw: compile paths, decode fonts
                out[name] = statistics.median(page.evaluate(DRAW, text) for _ in range(repeat))
            return out
        finally:
            browser.close()


def trained_run(services: Services) -> str:
    services.start_worker("training")
    run_id = services.submit({"name": "payload", "epochs": 1})
    run = services.wait_status(run_id, (SUCCEEDED, "failed", "cancelled"), timeout=600)
    if run["status"] != SUCCEEDED:
        raise RuntimeError(f"the run ended {run['status']}: {run.get('error')}")
    return run_id


def run(quick: bool) -> list[dict[str, Any]]:
    repeat = 3 if quick else 7
    rows: list[dict[str, Any]] = []
    with Services("payload") as services:
        base = services.start_dashboard().url
        run_id = trained_run(services)
        http = requests.Session()
        callback = Callback.find(http, base, "run-act.figure")
        figures: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for layer in LAYERS:
            values = {
                "run-probe.data": 0,
                "run-act-layer.value": layer,
                "run-act-scale.value": "tile",
                "run-id.data": run_id,
            }
            res = callback.call(http, values)
            sizes[layer] = len(res.content)
            figures[layer] = json.dumps(res.json()["response"]["run-act"]["figure"])
            activation = services.store.files.load_array(run_id, f"activations/probe/{layer}.npy")
            assert activation is not None, f"no probe activations for {layer}"
            figures[f"{layer} heatmap"] = heatmap_baseline(activation[0])
        try:
            times: dict[str, float] | None = draw_times(figures, repeat)
            draw_note = ""
        except Exception as exc:  # no Chromium here: the byte counts still stand
            times, draw_note = None, f"draw not measured: {type(exc).__name__}: {exc}"[:300]
    for layer in LAYERS:
        montage, heatmap = len(figures[layer]), len(figures[f"{layer} heatmap"])
        rows.append(
            row(
                f"payload: {layer} grid, figure JSON",
                montage / 1024,
                "KiB",
                baseline=heatmap / 1024,
                note=(
                    "one PNG montage + labels + hover markers, against a per-cell heatmap "
                    f"(baseline); the whole callback response is {sizes[layer] / 1024:.0f} KiB "
                    "with the class probabilities and caption"
                ),
            )
        )
        if times is not None:
            rows.append(
                row(
                    f"payload: {layer} grid, draw in Chromium",
                    times[layer],
                    "ms",
                    baseline=times[f"{layer} heatmap"],
                    note="JSON.parse + Plotly.react + 2 animation frames, median",
                )
            )
        else:
            rows.append(row(f"payload: {layer} grid, draw in Chromium", None, "ms", note=draw_note))
    return rows
