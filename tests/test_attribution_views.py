"""The attribution card of the run page and its service, without a browser or TensorFlow.

Results are written into the run folder as the worker writes them (shared/attribution_result.py),
then the page's callbacks are called the way Dash calls them.
"""

from __future__ import annotations

import numpy as np
import pytest
from dash import no_update

from dashboard.run import attribution as view
from dashboard.service import attributions
from dashboard.ui import attribution_figure
from shared import attribution_result as ar
from shared.store import SUCCEEDED
from tests import test_dashboard as td
from tests.test_dashboard import texts, write_succeeded_run

dash_app = td.dash_app
store = td.store


def fake_result(store, run_id: str, image: np.ndarray, params: dict, sanity: bool = False) -> dict:
    """What worker/attribution.py leaves for one request (a made-up map)."""
    digest = attributions.input_hash(image)
    key = ar.attribution_key(digest, params)
    rng = np.random.default_rng(0)
    arrays = {
        "input": image.astype(np.uint8),
        "attribution": rng.normal(size=(28, 28)).astype(np.float32),
        "probabilities": np.full(10, 0.1, np.float32),
    }
    meta: dict = {"target": 3 if params["target"] is None else params["target"], "layer": None}
    if params["method"] == "integrated_gradients":
        total = float(arrays["attribution"].sum())
        meta["completeness"] = {
            "total": total,
            "expected": total * 1.001,
            "relative_error": 0.001,
            "steps": 64,
        }
    if sanity:
        arrays["randomised"] = rng.normal(size=(28, 28)).astype(np.float32)
        meta["sanity"] = ar.sanity_summary(arrays["attribution"], arrays["randomised"], 1)
    store.files.save_arrays(run_id, ar.result_rel(key), **arrays, **ar.meta_arrays(meta))
    return arrays


def probe_image(store, run_id: str, k: int) -> tuple[np.ndarray, int]:
    probe = store.files.load_array(run_id, "activations/probe/inputs.npy")
    labels = store.files.load_array(run_id, "activations/probe/labels.npy")
    return probe[k], int(labels[k])


def test_the_card_shows_a_stored_attribution_over_the_digit(store):
    run_id = write_succeeded_run(store)
    image, label = probe_image(store, run_id, 2)
    params = ar.canonical("integrated_gradients", None, None, "black", False)
    arrays = fake_result(store, run_id, image, params)
    fig, caption, job, disabled = view.ask(
        2, "integrated_gradients", "predicted", "0", "conv2d_2", "black", False, run_id
    )
    assert job is None and disabled  # cached: nothing to wait for
    kinds = [trace.type for trace in fig.data]
    assert kinds == ["image", "heatmap"]
    heat = fig.data[1]
    assert np.allclose(np.asarray(heat.z), arrays["attribution"])
    top = float(np.abs(arrays["attribution"]).max())
    assert heat.zmin == pytest.approx(-top) and heat.zmax == pytest.approx(top)
    words = " ".join(texts(caption).split())
    assert "Integrated Gradients" in words and "64 steps" in words and "class 3" in words
    # The true class of this probe image is asked for by "true".
    params_true = ar.canonical("saliency", label, None, None, False)
    fake_result(store, run_id, image, params_true)
    fig, caption, job, _ = view.ask(2, "saliency", "true", "0", None, None, False, run_id)
    assert job is None and "the class you chose" in texts(caption)


def test_the_sanity_check_draws_both_maps_on_one_scale_with_the_verdict(store):
    run_id = write_succeeded_run(store)
    image, _ = probe_image(store, run_id, 0)
    params = ar.canonical("saliency", None, None, None, True)
    arrays = fake_result(store, run_id, image, params, sanity=True)
    fig, caption, _job, _ = view.ask(0, "saliency", "predicted", "0", None, None, True, run_id)
    heats = [trace for trace in fig.data if trace.type == "heatmap"]
    assert len(heats) == 2
    top = max(np.abs(arrays["attribution"]).max(), np.abs(arrays["randomised"]).max())
    assert all(h.zmax == pytest.approx(top) and h.zmin == pytest.approx(-top) for h in heats)
    assert [h.showscale for h in heats] == [False, True]  # one colour bar for both
    words = texts(caption)
    assert "rank correlation" in words and "sanity check  passed" in words  # ρ ≈ 0: two noises


def test_not_cached_queues_a_job_and_the_poll_shows_it_when_done(store):
    run_id = write_succeeded_run(store)
    # No broker in these tests: the card says so instead of failing.
    _fig, caption, job, disabled = view.ask(
        1, "occlusion", "predicted", "0", None, None, False, run_id
    )
    assert job is None and disabled and "not reachable" in texts(caption)
    # A job the worker finished: the poll reads its file.
    image, _ = probe_image(store, run_id, 1)
    params = ar.canonical("occlusion", None, None, None, False)
    digest = attributions.input_hash(image)
    key = ar.attribution_key(digest, params)
    job_id = ar.attribution_job_id(run_id, key)
    failed = store.get_job(job_id)
    assert failed is not None and failed["status"] == "failed"  # marked so: asking again resends
    waiting = {"job_id": job_id, "digest": digest, "params": params, "since": 0}
    store.set_job(job_id, "queued")
    assert view.poll_view(store, store.get_run(run_id), waiting, now=1)[2] is no_update
    fake_result(store, run_id, image, params)
    store.set_job(job_id, SUCCEEDED, result={})
    fig, _caption, job, disabled = view.wait(1, waiting, run_id)
    assert job is None and disabled and fig.data[1].type == "heatmap"
    assert view.poll_view(store, store.get_run(run_id), waiting | {"job_id": "0" * 32})[2] is None


def test_controls_follow_the_method_and_the_class_choice():
    assert view.enable_controls("gradcam", "any") == (False, False, True)
    assert view.enable_controls("integrated_gradients", "predicted") == (True, True, False)
    assert view.enable_controls("hirescam", "true") == (True, False, True)


def test_validation_names_the_field(store):
    run_id = write_succeeded_run(store)
    run = store.get_run(run_id)
    with pytest.raises(attributions.AttributionInvalid) as bad:
        attributions.validate(run, {"method": "lime"})
    assert bad.value.field == "method"
    for body, field in (
        ({"method": "gradcam", "layer": "dense_1"}, "layer"),
        ({"method": "saliency", "layer": "conv2d_1"}, "layer"),
        ({"method": "saliency", "target": 10}, "target"),
        ({"method": "saliency", "target": True}, "target"),
        ({"method": "saliency", "target": "true"}, "target"),  # no label: not a test image
        ({"method": "integrated_gradients", "baseline": "white"}, "baseline"),
        ({"method": "saliency", "sanity_check": "yes"}, "sanity_check"),
    ):
        with pytest.raises(attributions.AttributionInvalid) as bad:
            attributions.validate(run, body)
        assert bad.value.field == field, body
    assert attributions.validate(run, {"method": "gradcam"})["layer"] == "conv2d_2"
    assert attributions.validate(run, {"method": "saliency", "target": "true"}, 4)["target"] == 4


def test_overlays_share_one_symmetric_scale():
    a = np.zeros((28, 28), np.float32)
    a[3, 4] = -2.0
    b = np.ones((28, 28), np.float32)
    image = np.zeros((28, 28), np.uint8)
    fig = attribution_figure.overlays([(image, a, "a"), (image, b, "b")])
    heats = [t for t in fig.data if t.type == "heatmap"]
    assert [(h.zmin, h.zmax) for h in heats] == [(-2.0, 2.0), (-2.0, 2.0)]
    assert attribution_figure.value_range([np.zeros((2, 2))]) == 1.0
    empty = attribution_figure.overlays([])
    assert empty.layout.annotations[0].text == "No attribution to show"


def test_compare_card_puts_every_run_on_one_colour_scale(store):
    from dashboard.compare import attribution as cmp_attr
    from dashboard.compare import inputs

    a = write_succeeded_run(store, {"name": "a", "epochs": 1})
    b = write_succeeded_run(store, {"name": "b", "epochs": 1}, seed=1)
    runs = [store.get_run(a), store.get_run(b)]
    desc = inputs.test_input("mnist-sample", 123)
    image = inputs.input_image(desc)
    maps = []
    for run_id, factor in ((a, 1.0), (b, 5.0)):
        params = ar.canonical("gradcam", None, "conv2d_2", None, False)
        arrays = fake_result(store, run_id, image, params)
        arrays["attribution"] = arrays["attribution"] * factor
        key = ar.attribution_key(attributions.input_hash(image), params)
        meta = {"target": 3, "layer": "conv2d_2"}
        store.files.save_arrays(run_id, ar.result_rel(key), **arrays, **ar.meta_arrays(meta))
        maps.append(arrays["attribution"])
    cols, waiting, _ = cmp_attr.view(
        store, runs, desc, "gradcam", "predicted", "0", "last", ask=True
    )
    assert not waiting and len(cols) == 2
    graphs = [td.find(col, f"cmp-attr-{i}") for i, col in enumerate(cols)]
    top = max(float(np.abs(m).max()) for m in maps)
    for g, m in zip(graphs, maps, strict=True):
        heat = next(tr for tr in g.figure.data if tr.type == "heatmap")
        assert (heat.zmin, heat.zmax) == (pytest.approx(-top), pytest.approx(top))
        assert np.allclose(np.asarray(heat.z), m)
    assert "conv2d_2" in texts(cols[0])
    # Another method is not stored and no broker answers: each column says so.
    cols, waiting, _ = cmp_attr.view(
        store, runs, desc, "saliency", "predicted", "0", "last", ask=True
    )
    assert not waiting and all("not reachable" in texts(col) for col in cols)
    # "true" on a drawn picture has no true class: a sentence, not an error.
    picture = inputs.picture_input(image, "drawing")
    cols, _, _ = cmp_attr.view(store, runs, picture, "saliency", "true", "0", "last", ask=True)
    assert "test image" in texts(cols[0])
    assert [o["value"] for o in cmp_attr.layer_options(runs)] == ["last", "0", "1"]


def test_a_gradcam_map_of_zeros_is_explained(store):
    run_id = write_succeeded_run(store)
    image, _ = probe_image(store, run_id, 4)
    params = ar.canonical("gradcam", None, "conv2d_2", None, False)
    digest = attributions.input_hash(image)
    key = ar.attribution_key(digest, params)
    store.files.save_arrays(
        run_id,
        ar.result_rel(key),
        input=image,
        attribution=np.zeros((28, 28), np.float32),
        probabilities=np.full(10, 0.1, np.float32),
        **ar.meta_arrays({"target": 2, "layer": "conv2d_2"}),
    )
    _fig, caption, _job, _ = view.ask(
        4, "gradcam", "predicted", "0", "conv2d_2", None, False, run_id
    )
    assert "Grad-CAM is 0 everywhere" in texts(caption)


def test_the_compare_card_stops_waiting_when_no_worker_answers(store):
    from dashboard.compare import attribution as cmp_attr
    from dashboard.compare import inputs

    a = write_succeeded_run(store, {"name": "a", "epochs": 1})
    b = write_succeeded_run(store, {"name": "b", "epochs": 1}, seed=1)
    desc = inputs.test_input("mnist-sample", 50)
    image = inputs.input_image(desc)
    params = ar.canonical("saliency", None, None, None, False)
    key = ar.attribution_key(attributions.input_hash(image), params)
    for run_id in (a, b):  # queued, as if the broker had taken them and no worker ran them
        job_params = {"run_id": run_id, "input_hash": "x", "key": key, **params}
        store.create_job("attribute", run_id, job_params, ar.attribution_job_id(run_id, key))
    args = (store, [a, b], desc, "saliency", "predicted", "0", "last")
    cols, disabled = cmp_attr.poll_view(*args, since=100.0, now=110.0)
    assert cols is no_update and not disabled
    cols, disabled = cmp_attr.poll_view(*args, since=100.0, now=100.0 + cmp_attr.GIVE_UP + 1)
    assert disabled and "No extraction worker answered" in texts(cols)
    # One of them starts and says how far it has got: the columns are redrawn with its bar, the
    # other column still waits in words, and the card keeps polling.
    store.start_job(ar.attribution_job_id(a, key), 3)
    assert store.job_progress(ar.attribution_job_id(a, key), 0.25)
    cols, disabled = cmp_attr.poll_view(*args, since=100.0, now=110.0)
    assert not disabled and len(cols) == 2
    bars = [c for c in td.walk(cols[0]) if type(c).__name__ == "Progress"]
    assert len(bars) == 1 and bars[0].value == pytest.approx(25.0)
    assert "25% done" in texts(cols[0])
    assert not [c for c in td.walk(cols[1]) if type(c).__name__ == "Progress"]
    fake_result(store, a, image, params)
    fake_result(store, b, image, params)
    cols, disabled = cmp_attr.poll_view(*args, since=100.0, now=101.0)
    assert disabled and len(cols) == 2 and td.find(cols[1], "cmp-attr-1") is not None


def test_a_long_attribution_shows_how_far_it_has_got(store):
    """A job that writes its progress (worker/progress.py) gets it in the card's caption, in words
    and a bar, while the map waits; a job that says nothing leaves the caption alone."""
    from tests.test_i18n import in_lang

    run_id = write_succeeded_run(store)
    params = ar.canonical("occlusion", None, None, "black", True)
    job_id = store.create_job("attribute", run_id, {"run_id": run_id}, "a" * 32)
    waiting = {"job_id": job_id, "digest": "b" * 32, "params": params, "since": 0}
    run = store.get_run(run_id)
    assert view.poll_view(store, run, waiting, now=1) == (no_update,) * 4  # queued
    store.start_job(job_id, 3)
    assert view.poll_view(store, run, waiting, now=1) == (no_update,) * 4  # running, silent
    assert store.job_progress(job_id, 0.4)
    with in_lang("en"):
        fig, caption, job, disabled = view.poll_view(store, run, waiting, now=1)
    assert fig is no_update and job is no_update and disabled is no_update
    assert "Computing… 40% done" in texts(caption)
    bars = [c for c in caption.children if type(c).__name__ == "Progress"]
    assert len(bars) == 1 and bars[0].value == pytest.approx(40.0)
    with in_lang("es"):
        assert "Calculando… 40" in texts(view.poll_view(store, run, waiting, now=1)[1])


def test_a_superscript_digit_as_the_class_is_not_a_crash(store):
    """ "²" passes str.isdigit but not int(): the card used to raise in its callback."""
    run_id = write_succeeded_run(store)
    _fig, caption, job, disabled = view.ask(1, "saliency", view.ANY, "²", None, None, False, run_id)
    assert job is None and disabled and "not reachable" in texts(caption)  # asked, no broker
