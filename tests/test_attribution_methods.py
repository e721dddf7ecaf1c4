"""The attribution methods (worker/attribution.py) against independent computations, in process.

Models are tiny and built here (Keras, no training unless a test says so): each method is checked
against something computed another way — finite differences, a loop over occluded copies, numpy
from a model's own weights, a hand-built model whose answer is known — and Integrated Gradients
against its completeness property.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from shared import attribution_result as ar  # noqa: E402
from shared.artifacts import MODEL  # noqa: E402
from shared.config import parse_config  # noqa: E402
from shared.datasets import load_raw, to_model_input  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import RunStore  # noqa: E402
from worker import attribution as wa  # noqa: E402
from worker.model import build_model, compile_model  # noqa: E402


def digit(index: int = 0) -> np.ndarray:
    """A real test digit as model input (28, 28, 1) in [0, 1]."""
    return to_model_input(load_raw("mnist-sample")[2][index : index + 1])[0]


def small_model(activation: str = "tanh", seed: int = 0, scale: float = 1.0) -> keras.Model:
    """conv(4, 3×3) → flatten → dense(10, softmax), random weights (`scale` × Glorot)."""
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation=activation, name="conv2d_1")(inputs)
    x = keras.layers.Flatten(name="flatten_1")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="dense_1")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [scale * rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()]
    )
    return model


def probability(model: keras.Model, images: np.ndarray, target: int) -> np.ndarray:
    return np.asarray(model(images.astype(np.float32), training=False))[:, target]


# --- saliency and SmoothGrad ------------------------------------------------------------------------


def test_saliency_is_the_finite_difference_gradient_of_the_probability():
    model = small_model("tanh", scale=2.0)
    att = wa.Attributor(model)
    x = digit(3)
    target = 4
    ours = wa.saliency(att, x, target)
    assert ours.shape == (28, 28) and np.abs(ours).max() > 1e-4
    eps = 1e-2
    pixels = [(r, c) for r in range(0, 28, 3) for c in range(0, 28, 3)]
    plus = np.repeat(x[None], len(pixels), axis=0)
    minus = plus.copy()
    for i, (r, c) in enumerate(pixels):
        plus[i, r, c, 0] += eps
        minus[i, r, c, 0] -= eps
    numeric = (probability(model, plus, target) - probability(model, minus, target)) / (2 * eps)
    at = np.array([ours[r, c] for r, c in pixels])
    assert np.allclose(at, numeric, rtol=0.02, atol=2e-5), np.abs(at - numeric).max()


def test_smoothgrad_is_the_mean_of_the_gradients_at_the_noisy_copies():
    model = small_model("tanh", scale=2.0)
    att = wa.Attributor(model)
    x = digit(5)
    ours = wa.smoothgrad(att, x, 2, samples=8, noise=0.1, seed=3)
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.1, size=(8, *x.shape)).astype(np.float32)
    each = [wa.saliency(att, (x + n).astype(np.float32), 2) for n in noise]
    assert np.allclose(ours, np.mean(each, axis=0), atol=1e-7)
    again = wa.smoothgrad(att, x, 2, samples=8, noise=0.1, seed=3)
    assert np.array_equal(ours, again)  # seeded: a cached result means one thing


def test_batched_smoothgrad_with_the_defaults_is_the_mean_of_per_sample_saliency():
    """The 50 noisy copies go through one batched, traced gradient call; on the fixed seed that
    is the mean of 50 separate saliency maps."""
    model = small_model("tanh", seed=0, scale=1.0)
    att = wa.Attributor(model)
    x = digit(9)
    probs = np.asarray(model(x[None]))[0]
    target = int(np.argsort(probs)[-2])  # a class the model is unsure of: large gradients
    ours, _ = wa.attribute(att, x, "smoothgrad", target)
    rng = np.random.default_rng(ar.SMOOTHGRAD_SEED)
    noise = rng.normal(0.0, ar.SMOOTHGRAD_NOISE, size=(ar.SMOOTHGRAD_SAMPLES, *x.shape))
    each = [wa.saliency(att, x + n.astype(np.float32), target) for n in noise]
    assert np.abs(ours).max() > 1e-4
    assert np.allclose(ours, np.mean(each, axis=0), rtol=1e-5, atol=1e-8)
    # traced once for the model: a second input, another class, reuses the same graph
    wa.smoothgrad(att, digit(10), 3)
    assert att.noisy_mean_gradient.experimental_get_tracing_count() == 1


def test_batched_integrated_gradients_path_is_the_sum_of_per_point_gradients():
    model = small_model("relu", seed=2, scale=3.0)
    att = wa.Attributor(model)
    x, base = digit(4), wa.baseline_image(digit(4), "blur")
    steps = 200  # two chunks of IG_CHUNK points and a part
    mean = wa._path_gradients(att, x, base, 5, steps)
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    each = [
        att.gradients(keras.ops.convert_to_tensor((base + a * (x - base))[None]), 5)[0].numpy()[0]
        for a in alphas
    ]
    assert np.allclose(mean, np.mean(np.asarray(each, dtype=np.float64), axis=0), atol=1e-8)
    assert att.path_gradient_sum.experimental_get_tracing_count() == 1


# --- Integrated Gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("baseline", ["black", "blur", "mean"])
def test_integrated_gradients_sum_to_the_change_of_the_target_probability(baseline):
    model = small_model("relu", seed=1, scale=3.0)
    att = wa.Attributor(model)
    x = digit(0)
    probs = np.asarray(model(x[None]))[0]
    target = int(np.argmax(probs))
    base = wa.baseline_image(x, baseline, "mnist-sample")
    values, check = wa.integrated_gradients(att, x, target, base)
    expected = float(
        probability(model, x[None], target)[0] - probability(model, base[None], target)[0]
    )
    assert abs(expected) > 0.05, "the test needs a real change of probability"
    assert check["expected"] == pytest.approx(expected, abs=1e-6)
    assert abs(values.sum() - expected) <= 0.01 * abs(expected), (values.sum(), expected, check)
    assert check["relative_error"] <= 0.01 and check["steps"] in ar.IG_STEPS
    if baseline == "black":
        assert np.all(values[x[..., 0] == 0] == 0)  # (x − 0) × gradient: nothing where x is black


def test_integrated_gradients_default_baseline_is_black_and_mean_is_the_training_mean():
    x = digit(0)
    assert np.array_equal(wa.baseline_image(x, "black"), np.zeros_like(x))
    mean = wa.baseline_image(x, "mean", "mnist-sample")
    direct = load_raw("mnist-sample")[0].astype(np.float64).mean(axis=0) / 255.0
    assert np.allclose(mean[..., 0], direct, atol=0.5 / 255 + 1e-6)
    assert ar.canonical("integrated_gradients", None, None, None, False)["baseline"] == "black"


# --- Grad-CAM ---------------------------------------------------------------------------------------


def two_region_model() -> keras.Model:
    """1×1 conv with two fixed filters: A0 = relu(4x − 3) fires only where x = 1, A1 =
    relu(3 − 4x) everywhere else; class 1's score is the sum of A0, class 0's the sum of A1."""
    inputs = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="conv2d_1")
    x = conv(inputs)
    x = keras.layers.Flatten(name="flatten_1")(x)
    dense = keras.layers.Dense(2, activation="softmax", name="dense_1")
    model = keras.Model(inputs, dense(x))
    conv.set_weights([np.array([[[[4.0, -4.0]]]], np.float32), np.array([-3.0, 3.0], np.float32)])
    w = np.zeros((28 * 28 * 2, 2), np.float32)
    w[0::2, 1] = 1.0  # channel 0 of every position → class 1
    w[1::2, 0] = 1.0  # channel 1 → class 0
    dense.set_weights([w, np.zeros(2, np.float32)])
    return model


def test_gradcam_finds_the_only_region_that_drives_the_class():
    x = np.zeros((28, 28, 1), np.float32)
    x[2:8, 3:9] = 1.0  # region R1: the only place A0 fires
    x[18:24, 17:23] = 0.5  # region R2: bright, but A0 stays 0 there
    att = wa.Attributor(two_region_model())
    cam1 = wa.gradcam(att, x, 1, "conv2d_1")
    region = np.zeros((28, 28), bool)
    region[2:8, 3:9] = True
    assert np.allclose(cam1[region], 1.0, atol=1e-5)  # α0 = 1, A0 = 1 on R1
    assert np.allclose(cam1[~region], 0.0, atol=1e-6)
    cam0 = wa.gradcam(att, x, 0, "conv2d_1")  # α1 = 1: A1 = 3 on the background, 1 on R2, 0 on R1
    assert np.allclose(cam0[region], 0.0, atol=1e-6)
    assert np.allclose(cam0[18:24, 17:23], 1.0, atol=1e-5)
    assert np.allclose(cam0[12, 0], 3.0, atol=1e-5)


def test_gradcam_agrees_with_numpy_from_the_weights():
    """conv('same') → flatten → dense: ∂z_c/∂A[i,j,k] = W[(i,j,k), c], so α_k is the mean of the
    dense kernel's rows of channel k, and the map is relu(Σ_k α_k A_k) at the input's size."""
    inputs = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv2d_1")
    dense = keras.layers.Dense(10, activation="softmax", name="dense_1")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(conv(inputs))))
    x = digit(7)
    maps = np.asarray(keras.Model(inputs, conv.output)(x[None]))[0]  # (28, 28, 3)
    kernel = dense.get_weights()[0].reshape(28, 28, 3, 10)
    for target in (0, 6):
        alpha = kernel[:, :, :, target].mean(axis=(0, 1))
        expected = np.maximum((maps * alpha).sum(axis=-1), 0)
        ours = wa.gradcam(wa.Attributor(model), x, target, "conv2d_1")
        assert np.allclose(ours, expected, atol=1e-5), np.abs(ours - expected).max()


# --- occlusion --------------------------------------------------------------------------------------


def test_occlusion_is_the_mean_drop_over_the_patches_covering_each_pixel():
    model = small_model("relu", seed=2, scale=3.0)
    x = digit(1)
    target = 3
    ours = wa.occlusion(wa.Attributor(model), x, target, patch=6, stride=4)
    p0 = probability(model, x[None], target)[0]
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    starts = [0, 4, 8, 12, 16, 20, 22]  # every 4 pixels, and the last one that fits
    for r in starts:
        for c in starts:
            covered = x.copy()
            covered[r : r + 6, c : c + 6] = 0.0
            drop = p0 - probability(model, covered[None], target)[0]
            total[r : r + 6, c : c + 6] += drop
            count[r : r + 6, c : c + 6] += 1
    assert count.min() >= 1
    assert np.allclose(ours, total / count, atol=1e-6)


# --- the sanity check and the job, on a trained model in a store ------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("attr")
    settings = Settings(
        CNNLENS_DATA_DIR=str(data_dir), DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}"
    )
    store = RunStore(settings).init()
    config, infos = parse_config({"epochs": 1, "batch_size": 32})
    run_id = store.create_run(config, infos)["id"]
    x_train, y_train, _x, _y = load_raw("mnist-sample")
    model = compile_model(build_model(config), config)
    model.fit(to_model_input(x_train[:1500]), y_train[:1500], batch_size=32, epochs=1, verbose=0)
    model.save(store.files.path(run_id, MODEL))
    yield store, run_id
    store.engine.dispose()


def stored_input(store: RunStore, run_id: str, index: int) -> str:
    from dashboard.service import attributions

    image = load_raw("mnist-sample")[2][index]
    digest = attributions.input_hash(image)
    store.files.save_array(run_id, ar.input_rel(digest), image)
    return digest


def test_sanity_check_changes_the_map_and_leaves_the_stored_model_alone(trained):
    store, run_id = trained
    path = store.files.path(run_id, MODEL)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    mtime = path.stat().st_mtime_ns
    digest = stored_input(store, run_id, 11)
    params = ar.canonical("saliency", None, None, None, True)
    arrays, meta = wa.compute_attribution(store, run_id, digest, params)
    assert not np.allclose(arrays["attribution"], arrays["randomised"])
    sanity = meta["sanity"]
    assert sanity["spearman"] == pytest.approx(
        ar.spearman(np.abs(arrays["attribution"]), np.abs(arrays["randomised"]))
    )
    assert sanity["spearman"] < 0.95  # the map really changed (the flag's threshold: below)
    assert sanity["unreliable"] == (sanity["spearman"] >= ar.UNRELIABLE_AT)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert path.stat().st_mtime_ns == mtime
    # The model in the cache is the trained one still: the same answer as without the check.
    plain, _ = wa.compute_attribution(
        store, run_id, digest, ar.canonical("saliency", None, None, None, False)
    )
    assert np.array_equal(plain["attribution"], arrays["attribution"])


def test_randomised_copy_has_new_weights_and_the_model_keeps_its_own():
    model = small_model("relu", seed=4)
    original = [w.copy() for w in model.get_weights()]
    copy = wa.randomised_copy(model)
    for old, mine, new in zip(original, model.get_weights(), copy.get_weights(), strict=True):
        assert np.array_equal(old, mine)
        assert new.shape == old.shape and (new.ndim == 1 or not np.allclose(new, old))
    again = wa.randomised_copy(model)
    assert all(
        np.array_equal(a, b) for a, b in zip(copy.get_weights(), again.get_weights(), strict=True)
    )


def test_attribution_job_writes_the_npz_and_its_summary(trained):
    from dashboard.service import attributions

    store, run_id = trained
    digest = stored_input(store, run_id, 21)
    run = store.get_run(run_id, with_history=False)
    params = ar.canonical("integrated_gradients", None, None, None, False)
    key = ar.attribution_key(digest, params)
    job_id = ar.attribution_job_id(run_id, key)
    store.create_job(
        "attribute", run_id, {"run_id": run_id, "input_hash": digest, "key": key, **params}, job_id
    )
    assert wa.attribute_job(store, job_id) == "succeeded"
    job = store.get_job(job_id)
    result = ar.AttributionResult.model_validate(job["result"])
    arrays = store.files.load_arrays(run_id, ar.result_rel(key))
    assert arrays["input"].dtype == np.uint8 and arrays["input"].shape == (28, 28)
    assert arrays["attribution"].dtype == np.float32 and arrays["attribution"].shape == (28, 28)
    probs = arrays["probabilities"]
    assert result.target == int(np.argmax(probs)) and result.target_was == "predicted"
    # Completeness on the stored file itself, against the model's probability (black baseline).
    assert abs(
        arrays["attribution"].sum() - probs[result.target] + _black(store, run_id, result.target)
    ) <= (0.01 * abs(probs[result.target] - _black(store, run_id, result.target)))
    # A cache hit is answered by the dashboard with the same summary.
    assert attributions.cached_result(store, run, digest, params) == job["result"]
    # Grad-CAM names a layer; a model without it fails with a sentence.
    bad = ar.canonical("gradcam", None, "conv2d_9", None, False)
    with pytest.raises(wa.AttributionError, match="conv layer"):
        wa.compute_attribution(store, run_id, digest, bad)


def _black(store: RunStore, run_id: str, target: int) -> float:
    model = keras.saving.load_model(store.files.path(run_id, MODEL), compile=False, safe_mode=True)
    return float(np.asarray(model(np.zeros((1, 28, 28, 1), np.float32)))[0, target])


def test_a_map_that_survives_randomisation_is_flagged():
    rng = np.random.default_rng(1)
    trained = rng.random((28, 28))
    same = ar.sanity_summary(trained, 2 * trained + 0.01 * rng.random((28, 28)), 3)
    assert same["unreliable"] and same["spearman"] > 0.99 and same["randomised_predicted"] == 3
    other = ar.sanity_summary(trained, rng.random((28, 28)), 0)
    assert not other["unreliable"] and abs(other["spearman"]) < 0.2


def test_spearman_and_ssim_against_direct_formulas():
    rng = np.random.default_rng(0)
    a, b = rng.random((28, 28)), rng.random((28, 28))
    ra = np.argsort(np.argsort(a.ravel())).astype(float)
    rb = np.argsort(np.argsort(b.ravel())).astype(float)
    assert ar.spearman(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1], abs=1e-12)
    assert ar.spearman(a, a) == pytest.approx(1.0)
    ties = np.array([0, 0, 1, 2.0])
    assert ar.spearman(ties, np.array([1, 2, 3, 4.0])) == pytest.approx(
        np.corrcoef([0.5, 0.5, 2, 3], [0, 1, 2, 3])[0, 1]
    )
    assert ar.ssim(a, a) == pytest.approx(1.0)
    assert ar.ssim(a, b) < 0.5


def test_attribution_jobs_go_to_the_extraction_queue_and_are_recovered_like_extractions():
    from shared import tasks
    from shared.queue import celery_config
    from shared.settings import get_settings
    from worker.celery_app import JOB_TIME_LIMITS, app

    assert celery_config(get_settings())["task_routes"][tasks.ATTRIBUTE] == {
        "queue": tasks.EXTRACTION_QUEUE
    }
    assert tasks.JOB_TASKS["attribute"] == tasks.ATTRIBUTE  # the sweep sends a lost one again
    assert JOB_TIME_LIMITS["attribute"] == JOB_TIME_LIMITS["extract"]
    import worker.tasks  # noqa: F401  (registers the tasks)

    assert app.tasks[tasks.ATTRIBUTE].name == tasks.ATTRIBUTE


def test_gradcam_of_a_valid_conv_stays_over_the_pixels_it_looked_at():
    """A 3×3 'valid' conv whose kernel picks the centre pixel: cell (i, j) sees pixel (i+1, j+1),
    so the map, placed by receptive-field centres, is exactly the bright square again (a plain
    resize of the 26×26 map to 28×28 would shift and smear it)."""
    inputs = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(1, 3, activation="relu", name="conv2d_1")
    dense = keras.layers.Dense(2, activation="softmax", name="dense_1")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(conv(inputs))))
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[1, 1] = 1.0
    conv.set_weights([kernel, np.zeros(1, np.float32)])
    w = np.zeros((26 * 26, 2), np.float32)
    w[:, 1] = 1.0
    dense.set_weights([w, np.zeros(2, np.float32)])
    x = np.zeros((28, 28, 1), np.float32)
    x[5:11, 14:20] = 1.0
    cam = wa.gradcam(wa.Attributor(model), x, 1, "conv2d_1")
    assert np.allclose(cam, x[..., 0], atol=1e-6)


def test_receptive_grid_of_the_default_model():
    """conv 3×3 → pool 2 → conv 3×3 ('valid'): cell i of conv2d_2 is centred on pixel 2i + 3.5."""
    config, _ = parse_config({})
    model = build_model(config)
    for layer, offset, jump in (
        ("conv2d_1", 1.0, 1.0),
        ("maxpool2d_1", 1.5, 2.0),
        ("conv2d_2", 3.5, 2.0),
    ):
        got_offset, got_jump = wa.receptive_grid(model, layer)
        assert list(got_offset) == [offset, offset] and list(got_jump) == [jump, jump]


def test_hirescam_cells_add_up_to_the_class_score_after_a_flatten_and_dense_head():
    """z_c = Σ_ijk W[(i,j,k), c] A[i,j,k] + b_c, and ∂z_c/∂A = W: HiResCAM's cells, summed, are
    z_c − b_c, computed here from the layers' own weights with numpy."""
    model = small_model("relu", seed=5, scale=2.0)
    att = wa.Attributor(model)
    x = digit(9)
    maps = np.asarray(keras.Model(model.input, model.get_layer("conv2d_1").output)(x[None]))[0]
    kernel = model.get_layer("dense_1").get_weights()[0]
    for target in (1, 8):
        score = maps.reshape(-1) @ kernel[:, target]
        cells = wa.cam_cells(att, x, target, "conv2d_1", "hirescam")
        assert cells.shape == (26, 26)
        assert cells.sum() == pytest.approx(score, rel=1e-4, abs=1e-5)
        expected = (maps * kernel[:, target].reshape(26, 26, 4)).sum(axis=-1)
        assert np.allclose(cells, expected, atol=1e-5)
        placed = wa.gradcam(att, x, target, "conv2d_1", "hirescam")
        assert np.allclose(placed[1:27, 1:27], expected, atol=1e-5)  # cell (i, j) over (i+1, j+1)


def test_attributions_use_the_one_model_cache_of_the_worker(trained):
    """Activations and attributions of a run share one loaded model: the Attributor wraps the
    cached model itself, lives and dies with its cache entry, and a rewritten file drops both."""
    import os

    from shared.artifacts import CACHE_DIR
    from worker.extraction import ModelCache, compute_activations

    store, run_id = trained
    cache = ModelCache(size=1)
    path = store.files.path(run_id, MODEL)
    digest = stored_input(store, run_id, 31)
    store.files.save_array(
        run_id, f"{CACHE_DIR}/{digest}.input.npy", load_raw("mnist-sample")[2][31]
    )
    activations = compute_activations(store, run_id, digest, cache)
    params = ar.canonical("saliency", None, None, None, False)
    arrays, _ = wa.compute_attribution(store, run_id, digest, params, cache)
    assert np.allclose(arrays["probabilities"], activations["probabilities"], atol=1e-6)
    loaded = cache.get(run_id, path)
    att = wa.attributor(cache, run_id, path)
    assert att.model is loaded.model and len(cache._models) == 1
    assert wa.attributor(cache, run_id, path) is att  # kept beside the model
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    try:
        fresh = wa.attributor(cache, run_id, path)
        assert fresh is not att and fresh.model is cache.get(run_id, path).model
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("method, sanity", [("occlusion", False), ("smoothgrad", True)])
def test_progress_rises_to_the_end(trained, method, sanity):
    store, run_id = trained
    digest = stored_input(store, run_id, 41)
    seen: list[float] = []
    params = ar.canonical(method, None, None, None, sanity)
    wa.compute_attribution(store, run_id, digest, params, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0, seen
    if method == "occlusion":  # 1 + 144 pictures in chunks of OCCLUSION_CHUNK
        assert len([f for f in seen if f < 1.0]) >= 2
    if sanity:  # the trained model's map is the first half, the randomised copy's the second
        assert 0.5 in seen and 0.6 in seen


def test_integrated_gradients_progress_counts_the_steps_it_might_take():
    att = wa.Attributor(small_model("relu", seed=1, scale=3.0))
    x = digit(0)
    seen: list[float] = []
    _, check = wa.integrated_gradients(att, x, 3, np.zeros_like(x), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0
    used = sum(n for n in ar.IG_STEPS if n <= check["steps"])
    assert seen[-2] == pytest.approx(used / sum(ar.IG_STEPS))  # before the jump to the end
