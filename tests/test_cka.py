"""Minibatch CKA with the unbiased HSIC estimator (shared/cka.py), checked against direct
computations and against the properties CKA must have."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from shared import cka
from shared.analysis import linear_cka


def naive_unbiased_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """The U-statistic HSIC, straight from its definition (Song et al. 2012): the mean over every
    ordered quadruple of distinct examples (i, j, q, r) of k_ij l_ij + k_ij l_qr − 2 k_ij l_iq,
    with linear kernels on the raw (uncentred) features."""
    x = x.reshape(len(x), -1).astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    k, l_ = x @ x.T, y @ y.T
    terms = [
        k[i, j] * l_[i, j] + k[i, j] * l_[q, r] - 2 * k[i, j] * l_[i, q]
        for i, j, q, r in itertools.permutations(range(len(x)), 4)
    ]
    return float(np.mean(terms))


def minibatch_cka(x: np.ndarray, y: np.ndarray, batch: int = 25) -> float:
    acc = cka.MinibatchCka()
    for start, stop in cka.batch_bounds(len(x), batch):
        acc.add({"x": x[start:stop]}, {"y": y[start:stop]})
    return float(acc.estimate()[0, 0])


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 12)) + 2.0  # not centred on purpose
    y = x @ rng.normal(size=(12, 7)) + 0.5 * rng.normal(size=(200, 7))
    return x, y


@pytest.mark.parametrize("n", [4, 5, 8])
def test_unbiased_hsic_matches_the_u_statistic(n):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(n, 3)) + 1.5, rng.normal(size=(n, 2, 2)) - 0.7
    assert cka.unbiased_hsic(x, y) == pytest.approx(naive_unbiased_hsic(x, y), rel=1e-9, abs=1e-12)


def test_unbiased_hsic_of_independent_data_averages_to_zero():
    rng = np.random.default_rng(0)
    draws = [
        cka.unbiased_hsic(rng.normal(size=(10, 5)), rng.normal(size=(10, 5))) for _ in range(2000)
    ]
    spread = np.std(draws) / np.sqrt(len(draws))
    assert abs(np.mean(draws)) < 4 * spread  # unbiased: no offset beyond the noise
    # while the biased estimator of the same quantity is clearly positive on such data
    biased = []
    for _ in range(500):
        a, b = rng.normal(size=(10, 5)), rng.normal(size=(10, 5))
        a, b = a - a.mean(0), b - b.mean(0)
        biased.append(np.linalg.norm(a.T @ b) ** 2 / 100)
    assert np.mean(biased) > 10 * spread


def test_cka_of_a_representation_with_itself_is_one(data):
    x, _ = data
    assert minibatch_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling(data):
    x, y = data
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    base = minibatch_cka(x, y)
    assert minibatch_cka(x @ q, y) == pytest.approx(base, rel=1e-9)
    assert minibatch_cka(3.7 * x, 0.01 * y) == pytest.approx(base, rel=1e-9)
    assert minibatch_cka(x @ q * 5.0, y) == pytest.approx(base, rel=1e-9)
    # and it is not invariant to an arbitrary linear map (a sanity check of the test itself)
    stretch = np.diag(np.linspace(0.1, 10, 12))
    assert minibatch_cka(x @ stretch, y) != pytest.approx(base, rel=1e-3)


def test_one_minibatch_is_the_ratio_of_direct_hsics(data):
    x, y = data
    x, y = x[:9], y[:9]
    acc = cka.MinibatchCka()
    acc.add({"x": x}, {"y": y})
    direct = naive_unbiased_hsic(x, y) / np.sqrt(
        naive_unbiased_hsic(x, x) * naive_unbiased_hsic(y, y)
    )
    assert acc.estimate()[0, 0] == pytest.approx(direct, rel=1e-9)


def test_minibatches_average_hsic_before_the_ratio(data):
    x, y = data
    bounds = cka.batch_bounds(len(x), 50)
    hsic = {
        pair: np.mean([cka.unbiased_hsic(a[s:e], b[s:e]) for s, e in bounds])
        for pair, (a, b) in {"xy": (x, y), "xx": (x, x), "yy": (y, y)}.items()
    }
    expected = hsic["xy"] / np.sqrt(hsic["xx"] * hsic["yy"])
    assert minibatch_cka(x, y, 50) == pytest.approx(expected, rel=1e-9)


def test_the_unbiased_estimate_is_close_to_the_full_sample_one_for_many_images(data):
    x, y = data
    assert minibatch_cka(x, y, 25) == pytest.approx(linear_cka(x, y), abs=0.05)


def test_matrix_of_several_layers_and_the_same_mapping_twice():
    rng = np.random.default_rng(5)
    a = {"l1": rng.normal(size=(60, 4, 4, 2)), "l2": rng.normal(size=(60, 6))}
    acc = cka.MinibatchCka()
    for s, e in cka.batch_bounds(60, 20):
        part = {k: v[s:e] for k, v in a.items()}
        acc.add(part, part)
    m = acc.estimate()
    assert m.shape == (2, 2) and np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert m[0, 1] == pytest.approx(minibatch_cka(a["l1"], a["l2"], 20), rel=1e-9)


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_images():
    rng = np.random.default_rng(2)

    def result(images: int) -> dict:
        x = rng.normal(size=(images, 10))
        y = x[:, :5] + rng.normal(size=(images, 5))
        acc = cka.MinibatchCka()
        for s, e in cka.batch_bounds(images, 50):
            acc.add({"x": x[s:e]}, {"y": y[s:e]})
        return acc.result()

    small, large = result(400), result(4000)
    for r in (small, large):
        assert np.shape(r["lower"]) == np.shape(r["upper"]) == np.shape(r["matrix"]) == (1, 1)
        assert r["lower"][0][0] <= r["matrix"][0][0] <= r["upper"][0][0]
        assert r["lower"][0][0] < r["upper"][0][0]
    assert large["test_images"] == 4000 and large["batches"] == 80
    width = {k: r["upper"][0][0] - r["lower"][0][0] for k, r in (("s", small), ("l", large))}
    assert width["l"] < width["s"] / 2  # ten times the images: about a third of the width


def test_bootstrap_is_a_resampling_of_minibatches():
    """The interval equals percentiles of the ratio over minibatches drawn with replacement,
    computed here with a plain loop and the same random draws."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(120, 6))
    y = x[:, :3] ** 2 + rng.normal(size=(120, 3))
    acc = cka.MinibatchCka()
    bounds = cka.batch_bounds(120, 10)
    for s, e in bounds:
        acc.add({"x": x[s:e]}, {"y": y[s:e]})
    lower, upper = acc.bootstrap(rounds=300, seed=4)
    draws = np.random.default_rng(4).multinomial(
        len(bounds), np.full(len(bounds), 1 / len(bounds)), size=300
    )
    values = []
    for count in draws:
        chosen = [b for b, c in zip(bounds, count, strict=True) for _ in range(c)]
        xy = np.mean([cka.unbiased_hsic(x[s:e], y[s:e]) for s, e in chosen])
        xx = np.mean([cka.unbiased_hsic(x[s:e], x[s:e]) for s, e in chosen])
        yy = np.mean([cka.unbiased_hsic(y[s:e], y[s:e]) for s, e in chosen])
        values.append(xy / np.sqrt(xx * yy))
    assert lower[0, 0] == pytest.approx(np.percentile(values, 2.5), rel=1e-9)
    assert upper[0, 0] == pytest.approx(np.percentile(values, 97.5), rel=1e-9)


def test_constant_layer_scores_zero_and_bad_input_is_refused():
    acc = cka.MinibatchCka()
    acc.add({"c": np.ones((10, 3))}, {"y": np.random.default_rng(0).normal(size=(10, 3))})
    assert acc.estimate()[0, 0] == 0.0
    with pytest.raises(ValueError, match="at least 4"):
        cka.unbiased_hsic(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        cka.unbiased_hsic(np.full((5, 2), np.nan), np.ones((5, 2)))
    with pytest.raises(ValueError, match="same examples"):
        cka.unbiased_hsic(np.ones((5, 2)), np.ones((6, 2)))


def test_batch_bounds_cover_every_image_evenly():
    bounds = cka.batch_bounds(2000, 100)
    assert len(bounds) == 20 and bounds[0] == (0, 100) and bounds[-1][1] == 2000
    uneven = cka.batch_bounds(1050, 100)
    sizes = {e - s for s, e in uneven}
    assert len(uneven) == 10 and sizes <= {105} and uneven[-1][1] == 1050
    assert cka.batch_bounds(30, 100) == [(0, 30)]
    with pytest.raises(ValueError):
        cka.batch_bounds(3)
