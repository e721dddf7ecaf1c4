"""The filter page (/run/<id>/filter/<layer>/<k>) and its links from the run page, built from
fake succeeded runs: layout, the analysis view once the job's file is there, the pictures."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from dashboard import state
from dashboard.run import filter_page, filter_sections
from shared import comparison
from shared.datasets import load_raw
from tests.api.support import fake_trained_run
from tests.api.test_api_filters import analysis_file


@pytest.fixture
def runs(client, api_store):
    ids = []
    for seed in (0, 1):
        run = client.post("/api/runs", json={"epochs": 2, "name": f"r{seed}"}).get_json()
        fake_trained_run(api_store, run["id"], seed=seed)
        ids.append(run["id"])
    state.set_store(api_store)
    yield ids
    state.set_store(None)


def text_of(component) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda o: o.to_plotly_json())


def test_layout_shows_the_weights_of_every_epoch_and_waits_for_the_job(api_store, runs):
    a, _ = runs
    page = filter_page.layout(api_store, a, "conv2d_2", "3")
    words = text_of(page)
    assert "Filter #3 of conv2d_2" in words and "initial" in words and "epoch 2" in words
    assert words.count("data:image/png;base64") == 3  # initial + 2 epochs
    assert f"/run/{a}/filter/conv2d_2/2" in words and f"/run/{a}/filter/conv2d_2/4" in words
    # the layout queues nothing (a page view must stay cheap); the first poll asks
    assert api_store.get_job(comparison.filter_job_id(a, "conv2d_2", 3)) is None
    view, done = filter_page.analysis_view(api_store, api_store.get_run(a), "conv2d_2", 3, ask=True)
    assert not done and "Computing" in text_of(view)
    job = api_store.get_job(comparison.filter_job_id(a, "conv2d_2", 3))
    assert job["kind"] == "filter" and job["status"] == "queued"


@pytest.mark.parametrize(
    ("layer", "k"), [("conv2d_9", "0"), ("dense_1", "0"), ("conv2d_1", "16"), ("conv2d_1", "x")]
)
def test_a_filter_the_run_does_not_have_is_a_sentence(api_store, runs, layer, k):
    words = text_of(filter_page.layout(api_store, runs[0], layer, k))
    assert "No such filter" in words and "conv2d_1, conv2d_2" in words


def test_the_analysis_with_top_images_flags_and_twins(api_store, runs):
    a, b = runs
    api_store.files.write_json(a, comparison.filter_rel("conv2d_2", 3), analysis_file(a, b))
    buf = io.BytesIO()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(buf, format="PNG")
    api_store.files.write_bytes(a, comparison.filter_rel("conv2d_2", 3, "png"), buf.getvalue())
    view, done = filter_page.analysis_view(
        api_store, api_store.get_run(a), "conv2d_2", 3, ask=False
    )
    words = text_of(html_div(view))
    assert done
    assert words.count("data:image/png;base64") == 9 + 1  # the top images and the picture
    assert "test 40" in words and "test 48" in words
    assert "near-duplicate" in words and f"/run/{a}/filter/conv2d_2/7" in words
    assert f"/run/{b}/filter/conv2d_2/11" in words and f"/compare?runs={a},{b}" in words
    assert "97.00%" in words and "95.00%" in words  # accuracy with and without
    labels = load_raw("mnist-sample")[3]
    assert f"test 40 ({labels[40]})" in words


def html_div(children):
    from dash import html

    return html.Div(children)


def test_the_receptive_field_is_outlined_where_the_box_says():
    image = np.zeros((28, 28), np.uint8)
    uri = filter_sections.outlined(image, [2, 4, 10, 12], scale=5)
    import base64

    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 100)
    rows, cols = np.nonzero(red)
    assert rows.min() == 2 * 5 and rows.max() == 10 * 5 - 1
    assert cols.min() == 4 * 5 and cols.max() == 12 * 5 - 1
    assert not red[30, 40]  # inside the box: the image itself


def test_epoch_tiles_share_one_scale():
    stack = np.zeros((3, 3, 3, 1, 4), np.float32)
    stack[2, 1, 1, 0, 2] = 1.0  # filter 2 grows one weight by the last epoch
    tiles = filter_sections.epoch_tiles(stack, 2, scale=1)
    assert [e for e, _ in tiles] == [0, 1, 2]


def test_run_page_tiles_link_to_their_filter_page(api_store, runs):
    a, _ = runs
    click = {"points": [{"curveNumber": 1, "pointIndex": 5}]}
    link = filter_page.link_for(a, "conv2d_1", click, 1)
    assert link.href == f"/run/{a}/filter/conv2d_1/5"
    assert filter_page.link_for(a, "dense_1", click, 1) == ""
    assert filter_page.link_for(a, "conv2d_1", {"points": [{"curveNumber": 0}]}, 1) == ""
    assert filter_page.link_for(a, "conv2d_1", None, 1) == ""


@pytest.mark.parametrize(
    ("accuracy", "without", "english", "spanish"),
    [
        (0.97, 0.95, "a drop of 2.00 percentage points", "una caída de 2,00 puntos"),
        (
            0.9700,
            0.9705,
            "a gain of 0.05 percentage points without it",
            "una ganancia de 0,05 puntos",
        ),
        (0.97, 0.97, "no change", "sin cambio"),
        (0.970001, 0.97, "no change", "sin cambio"),  # below the digits shown
    ],
)
def test_the_ablation_sentence_says_a_drop_a_gain_or_no_change(accuracy, without, english, spanish):
    from tests.test_i18n import in_lang

    ablation = {"accuracy": accuracy, "accuracy_without": without, "per_class": []}
    with in_lang("en"):
        words = filter_sections.ablation_sentence(ablation)
    assert english in words and "-" not in words.split(":")[-1], words
    assert "drop" not in words if "drop" not in english else "gain" not in words
    with in_lang("es"):
        palabras = filter_sections.ablation_sentence(ablation)
    assert spanish in palabras and "-" not in palabras.split(":")[-1], palabras


def test_the_wait_shows_the_jobs_progress_once_it_says(api_store, runs):
    from tests.test_i18n import in_lang

    a, _ = runs
    run = api_store.get_run(a)
    with in_lang("en"):
        view, done = filter_page.analysis_view(api_store, run, "conv2d_2", 3, ask=True)
        assert not done and "Computing" in text_of(view) and "Progress" not in text_of(view)
        job_id = comparison.filter_job_id(a, "conv2d_2", 3)
        api_store.start_job(job_id, 3)
        assert api_store.job_progress(job_id, 0.25)
        view, done = filter_page.analysis_view(api_store, run, "conv2d_2", 3, ask=True)
    words = text_of(view)
    assert not done and "25% done" in words and '"type": "Progress"' in words
    assert '"value": 25.0' in words
    with in_lang("es"):
        view, _ = filter_page.analysis_view(api_store, run, "conv2d_2", 3, ask=True)
    assert "25 % hecho" in text_of(view) or "25% hecho" in text_of(view)
