"""CKA, filter alignment and filter statistics on small arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from shared.analysis import (
    align_filters,
    cka_matrix,
    filter_correlation_matrix,
    filter_stats,
    linear_cka,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def random_orthogonal(rng: np.random.Generator, size: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(size, size)))
    return q * np.sign(np.diag(r))  # sign fix makes Q uniformly distributed; any Q would do


# --- linear_cka -----------------------------------------------------------------------------------


def test_cka_of_a_layer_with_itself_is_one(rng):
    x = rng.normal(size=(40, 6, 6, 3))
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_cka_is_invariant_to_orthogonal_transform_and_isotropic_scaling(rng):
    x = rng.normal(size=(50, 12))
    y = 3.7 * x @ random_orthogonal(rng, 12) + 5.0  # rotate, scale, shift
    assert linear_cka(x, y) == pytest.approx(1.0)


def test_cka_is_not_invariant_to_non_isotropic_scaling(rng):
    x = rng.normal(size=(50, 12))
    stretched = x * np.array([20.0] + [1.0] * 11)
    assert linear_cka(x, stretched) < 0.5


def test_cka_by_hand_equals_squared_pearson_for_one_feature():
    # With one feature, K = x xᵀ and L = y yᵀ (centred), so CKA = (xᵀy)² / (xᵀx · yᵀy) = r².
    # x = [1, 2, 3, 4] -> centred [-1.5, -0.5, 0.5, 1.5]; y = [1, 3, 2, 4] -> [-1.5, 0.5, -0.5, 1.5]
    # xᵀy = 2.25 - 0.25 - 0.25 + 2.25 = 4; xᵀx = yᵀy = 5; r = 0.8, so CKA = 0.64.
    x = np.array([1.0, 2.0, 3.0, 4.0])[:, None]
    y = np.array([1.0, 3.0, 2.0, 4.0])[:, None]
    for method in ("gram", "feature"):
        assert linear_cka(x, y, method=method) == pytest.approx(0.64)


def test_gram_and_feature_formulas_agree(rng):
    x = rng.normal(size=(30, 8))
    y = np.tanh(x @ rng.normal(size=(8, 5))) + 0.3 * rng.normal(size=(30, 5))
    gram, feature = linear_cka(x, y, method="gram"), linear_cka(x, y, method="feature")
    assert 0.0 < gram < 1.0
    assert gram == pytest.approx(feature, rel=1e-12)


def test_cka_accepts_float16_and_any_rank(rng):
    x = rng.normal(size=(20, 4, 4, 2))
    assert linear_cka(x.astype(np.float16), x.reshape(20, -1)) == pytest.approx(1.0, abs=1e-3)


def test_cka_with_a_constant_representation_is_zero(rng):
    x = rng.normal(size=(10, 3))
    assert linear_cka(x, np.full((10, 4), 0.1)) == 0.0


def test_cka_refuses_different_numbers_of_examples(rng):
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(rng.normal(size=(10, 3)), rng.normal(size=(11, 3)))


def test_cka_matrix_of_a_run_with_itself(rng):
    acts = {
        "conv2d_1": rng.normal(size=(25, 5, 5, 4)).astype(np.float16),
        "maxpool2d_1": rng.normal(size=(25, 2, 2, 4)),
        "dense_1": rng.normal(size=(25, 10)),
    }
    result = cka_matrix(acts, acts)
    assert result["layers_a"] == result["layers_b"] == list(acts)
    matrix = np.array(result["matrix"])
    assert matrix.shape == (3, 3)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    np.testing.assert_allclose(matrix, matrix.T)


def test_cka_matrix_matches_pairwise_cka(rng):
    acts_a = {"a1": rng.normal(size=(15, 7)), "a2": rng.normal(size=(15, 30))}
    acts_b = {"b1": acts_a["a1"] @ rng.normal(size=(7, 3)), "b2": rng.normal(size=(15, 2, 2))}
    matrix = cka_matrix(acts_a, acts_b)["matrix"]
    for i, a in enumerate(acts_a.values()):
        for j, b in enumerate(acts_b.values()):
            assert matrix[i][j] == pytest.approx(linear_cka(a, b))


# --- filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3, 1, 16), (3, 3, 16, 32)])
def test_alignment_recovers_a_permutation_of_the_same_filters(rng, shape):
    kernels_a = rng.normal(size=shape)
    permutation = rng.permutation(shape[-1])
    kernels_b = kernels_a[..., permutation]  # B's filter j is A's filter permutation[j]
    result = align_filters(kernels_a, kernels_b)
    assert [pair["a"] for pair in result["pairs"]] == list(range(shape[-1]))
    for pair in result["pairs"]:
        assert permutation[pair["b"]] == pair["a"]
        assert pair["correlation"] == pytest.approx(1.0)
    assert result["mean_correlation"] == pytest.approx(1.0)
    np.testing.assert_array_equal(kernels_b[..., result["order_b"]], kernels_a)


def test_alignment_sign_flips_count_only_when_absolute(rng):
    kernels_a = rng.normal(size=(3, 3, 1, 8))
    kernels_b = -kernels_a[..., ::-1]
    signed = align_filters(kernels_a, kernels_b)
    absolute = align_filters(kernels_a, kernels_b, absolute=True)
    assert absolute["order_b"] == list(range(7, -1, -1))
    assert absolute["mean_correlation"] == pytest.approx(1.0)
    assert all(pair["correlation"] == pytest.approx(-1.0) for pair in absolute["pairs"])
    assert signed["mean_correlation"] < 0.5


def test_alignment_refuses_different_kernel_shapes(rng):
    with pytest.raises(ValueError, match=r"different shapes \(3, 3, 1, 16\) and \(5, 5, 1, 16\)"):
        align_filters(rng.normal(size=(3, 3, 1, 16)), rng.normal(size=(5, 5, 1, 16)))


def test_correlation_matrix_is_pearson(rng):
    kernels = rng.normal(size=(2, 2, 3, 4))
    corr = filter_correlation_matrix(kernels, kernels)
    expected = np.corrcoef(kernels.reshape(-1, 4).T)
    np.testing.assert_allclose(corr, expected, atol=1e-12)


# --- filter_stats ---------------------------------------------------------------------------------


def test_filter_stats_on_a_tiny_batch():
    # Two images of 2×1 positions, three channels.
    acts = np.zeros((2, 2, 1, 3))
    acts[0, :, 0, 1] = [1.0, 0.0]  # channel 1 fires on image 0 only, at one position of two
    acts[:, :, 0, 2] = [[1.0, 2.0], [3.0, -2.0]]  # channel 2 fires on both images
    stats = filter_stats(acts)
    assert [s["channel"] for s in stats] == [0, 1, 2]
    assert stats[0] == {
        "channel": 0,
        "mean": 0.0,
        "std": 0.0,
        "max": 0.0,
        "silent_fraction": 1.0,
        "sparsity": 1.0,
        "dead": True,
    }
    assert stats[1]["mean"] == pytest.approx(0.25)
    assert stats[1]["silent_fraction"] == pytest.approx(0.5)
    assert stats[1]["sparsity"] == pytest.approx(0.75)
    assert not stats[1]["dead"]
    assert stats[2]["mean"] == pytest.approx(1.0)
    assert stats[2]["sparsity"] == pytest.approx(0.25)
    assert stats[2]["silent_fraction"] == 0.0


def test_filter_stats_non_relu_counts_negative_values_as_firing():
    acts = np.array([[-0.5, 0.0], [-0.2, 0.0]], dtype=np.float16)  # (n, c) from a dense tanh layer
    relu, tanh = filter_stats(acts), filter_stats(acts, relu_like=False)
    assert relu[0]["dead"] and not tanh[0]["dead"]
    assert relu[1]["dead"] and tanh[1]["dead"]
    assert sorted(tanh, key=lambda s: s["mean"])[0]["channel"] == 0
