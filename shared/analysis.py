"""Comparing what two trained networks learned: CKA between layers, filter matching, filter health.

Pure numpy/scipy, so the dashboard can run it on stored arrays without TensorFlow. Inputs are the
run artifacts: activations (float16, shape (n, ...)) of the same probe images through two runs, and
conv kernels shaped (kh, kw, cin, cout). Everything is computed in float64, because float16 sums
over thousands of features lose most of their digits.

Results are plain Python numbers, lists and dicts, ready for JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

CkaMethod = Literal["auto", "gram", "feature"]


# --- CKA ------------------------------------------------------------------------------------------


def _centred_features(x: Any) -> np.ndarray:
    """(n, ...) array -> (n, p) float64 with every column centred on its mean over the n examples.

    Constant columns are set to exactly zero: the float mean of a constant column can differ from
    it by one ulp, and CKA, being scale-invariant, would turn that ~1e-17 noise into a similarity.
    """
    a = np.asarray(x)
    if a.ndim == 0 or a.shape[0] < 2:
        raise ValueError(f"CKA needs at least 2 examples along the first axis, got shape {a.shape}")
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("activations contain NaN or infinity; CKA is undefined for them")
    centred = a - a.mean(axis=0)
    centred[:, np.ptp(a, axis=0) == 0] = 0.0
    return centred


def _normalised_gram(centred: np.ndarray) -> np.ndarray | None:
    """The n×n Gram matrix X Xᵀ scaled to unit Frobenius norm, or None if X has no variance.

    With unit-norm Grams, CKA of two layers is just the elementwise dot product of their Grams, so
    `cka_matrix` builds each layer's Gram once and compares all pairs with one matrix product.
    """
    gram = centred @ centred.T
    norm = np.linalg.norm(gram)
    return None if norm == 0 else gram / norm


def _cka_gram(xc: np.ndarray, yc: np.ndarray) -> float:
    """CKA = <K, L>_F / (||K||_F ||L||_F) with K = X Xᵀ, L = Y Yᵀ (n×n): cheap when n < p + q."""
    k, l_ = _normalised_gram(xc), _normalised_gram(yc)
    if k is None or l_ is None:
        return 0.0
    return float(np.vdot(k, l_))


def _cka_feature(xc: np.ndarray, yc: np.ndarray) -> float:
    """CKA = ||Yᵀ X||_F² / (||Xᵀ X||_F ||Yᵀ Y||_F): the same number, cheap when p + q < n."""
    denominator = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(yc.T @ xc) ** 2 / denominator)


def linear_cka(x: Any, y: Any, method: CkaMethod = "auto") -> float:
    """Linear CKA (Kornblith et al., 2019) between two representations of the same n examples.

    x is (n, ...) and y is (n, ...); all axes after the first are flattened into features, so a
    conv layer's (n, h, w, c) output can be compared with a dense layer's (n, units). The result is
    in [0, 1]: 1 when the representations differ only by a rotation and an isotropic scaling.

    `method="auto"` picks the cheaper of the two equivalent formulas: n×n Gram matrices when there
    are more features than examples (the usual case for conv layers), p×q feature products
    otherwise. A representation with no variance (every example maps to the same point) carries no
    information about the examples, so its CKA with anything is defined here as 0.0, not NaN.

    Caveat: this is the plain (biased) estimator. With far more features than examples even
    unrelated representations score well above 0, so read values against a baseline, such as the
    same layers of an untrained run, rather than against 0.
    """
    xc, yc = _centred_features(x), _centred_features(y)
    if xc.shape[0] != yc.shape[0]:
        raise ValueError(f"x and y must describe the same examples: {xc.shape[0]} vs {yc.shape[0]}")
    if method == "auto":
        method = "feature" if xc.shape[1] + yc.shape[1] < xc.shape[0] else "gram"
    if method == "gram":
        value = _cka_gram(xc, yc)
    elif method == "feature":
        value = _cka_feature(xc, yc)
    else:
        raise ValueError(f"unknown CKA method {method!r}; use 'auto', 'gram' or 'feature'")
    # Rounding can leave 1.0000000000000002; CKA is a cosine of non-negative quantities.
    return float(np.clip(value, 0.0, 1.0))


def _stacked_grams(acts: Mapping[str, Any]) -> tuple[list[str], np.ndarray, int]:
    """Each layer's unit-norm centred Gram, flattened into one row (zeros for a constant layer)."""
    names = list(acts)
    if not names:
        raise ValueError("no layers to compare")
    n = np.shape(acts[names[0]])[0]
    rows = np.zeros((len(names), n * n))
    for i, name in enumerate(names):
        centred = _centred_features(acts[name])
        if centred.shape[0] != n:
            raise ValueError(f"layer {name!r} has {centred.shape[0]} examples, expected {n}")
        gram = _normalised_gram(centred)
        if gram is not None:
            rows[i] = gram.ravel()
    return names, rows, n


def cka_matrix(acts_a: Mapping[str, Any], acts_b: Mapping[str, Any]) -> dict[str, Any]:
    """Linear CKA for every pair (layer of A, layer of B) on the same probe examples.

    Returns {"layers_a": [...], "layers_b": [...], "matrix": [[cka(a_i, b_j) for b_j] for a_i]}.
    Each layer's Gram matrix is built once (the expensive part for wide conv layers) and all pairs
    come from a single matrix product; a run compared with itself reuses A's Grams.
    """
    names_a, rows_a, n_a = _stacked_grams(acts_a)
    names_b, rows_b, n_b = (names_a, rows_a, n_a) if acts_b is acts_a else _stacked_grams(acts_b)
    if n_a != n_b:
        raise ValueError(f"both runs must be probed on the same examples: {n_a} vs {n_b}")
    matrix = np.clip(rows_a @ rows_b.T, 0.0, 1.0)
    return {"layers_a": names_a, "layers_b": names_b, "matrix": matrix.tolist()}


# --- filters --------------------------------------------------------------------------------------


def _filters_as_rows(kernel: Any) -> np.ndarray:
    """(kh, kw, cin, cout) kernel -> (cout, kh*kw*cin) float64: one row per filter."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 4:
        raise ValueError(f"a conv kernel has shape (kh, kw, cin, cout), got shape {k.shape}")
    return k.reshape(-1, k.shape[-1]).T


def _standardised_rows(rows: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm, so a dot product of two rows is their Pearson r.

    A constant filter has no defined correlation; its row stays zero, i.e. r = 0 with everything.
    """
    centred = rows - rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)


def filter_correlation_matrix(kernels_a: Any, kernels_b: Any) -> np.ndarray:
    """Pearson correlation between every filter of A (rows) and every filter of B (columns).

    Each filter is flattened over (kh, kw, cin); both kernels must have the same filter size but
    may have different numbers of filters. Pass the same kernel twice to find redundant filters.
    """
    rows_a, rows_b = _filters_as_rows(kernels_a), _filters_as_rows(kernels_b)
    if rows_a.shape[1] != rows_b.shape[1]:
        raise ValueError(
            f"filters of shape {np.shape(kernels_a)[:3]} and {np.shape(kernels_b)[:3]} "
            "cannot be correlated: they must have the same (kh, kw, cin)"
        )
    corr = _standardised_rows(rows_a) @ _standardised_rows(rows_b).T
    return np.clip(corr, -1.0, 1.0)


def align_filters(kernels_a: Any, kernels_b: Any, absolute: bool = False) -> dict[str, Any]:
    """Match every filter of run A to a distinct filter of run B, maximising total correlation.

    Two trainings of the same architecture learn similar filters in an arbitrary order; this undoes
    the permutation (Hungarian algorithm) so they can be shown side by side. With absolute=False a
    sign-flipped filter counts as dissimilar (r = -1), because after a ReLU it detects the opposite
    pattern; absolute=True matches on |r| instead.

    Returns {"pairs": [{"a": i, "b": j, "correlation": r}] in A's order (r is the signed Pearson r),
    "mean_correlation": mean matched score (|r| when absolute), "order_b": [j for each i],
    "absolute": bool}; `kernels_b[..., order_b]` lines B's filters up with A's.
    """
    shape_a, shape_b = np.shape(kernels_a), np.shape(kernels_b)
    if shape_a != shape_b:
        raise ValueError(
            f"cannot align filters of kernels with different shapes {shape_a} and {shape_b}: "
            "compare layers with the same kernel size, input channels and number of filters"
        )
    corr = filter_correlation_matrix(kernels_a, kernels_b)
    score = np.abs(corr) if absolute else corr
    rows, cols = linear_sum_assignment(score, maximize=True)  # rows come back sorted: A's order
    pairs = [
        {"a": int(i), "b": int(j), "correlation": float(corr[i, j])}
        for i, j in zip(rows, cols, strict=True)
    ]
    return {
        "pairs": pairs,
        "mean_correlation": float(score[rows, cols].mean()),
        "order_b": [int(j) for j in cols],
        "absolute": absolute,
    }


def filter_stats(activations: Any, relu_like: bool = True) -> list[dict[str, Any]]:
    """Per-channel health of a layer on a probe batch: (n, h, w, c) or (n, c), channels last.

    A value "fires" when it is > 0 (relu_like=True, the floor of ReLU) or when it is non-zero
    (relu_like=False, for tanh/linear layers whose negative values carry signal too; a sigmoid
    channel is then never dead, so look at its `std`). For each channel:
      mean, std, max       over all images and positions;
      silent_fraction      fraction of images on which the channel fires nowhere;
      sparsity             fraction of all values (images × positions) that do not fire;
      dead                 it fires on no image at all: the filter contributes nothing.
    Plain dicts, so a table can sort on any key.
    """
    a = np.asarray(activations)
    if a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(f"expected activations shaped (n, ..., channels), got shape {a.shape}")
    values = a.reshape(a.shape[0], -1, a.shape[-1])  # (n, positions, c)
    fires: np.ndarray = np.greater(values, 0) if relu_like else np.not_equal(values, 0)
    fires_per_image = fires.any(axis=1)  # (n, c)
    # One vectorised pass per statistic over all channels; sums in float64 for float16 input.
    columns = {
        "mean": values.mean(axis=(0, 1), dtype=np.float64),
        "std": values.std(axis=(0, 1), dtype=np.float64),
        "max": values.max(axis=(0, 1)).astype(np.float64),
        "silent_fraction": 1.0 - fires_per_image.mean(axis=0),
        "sparsity": 1.0 - fires.mean(axis=(0, 1)),
    }
    dead = np.asarray(~fires_per_image.any(axis=0))
    return [
        {
            "channel": c,
            **{key: float(column[c]) for key, column in columns.items()},
            "dead": bool(dead[c]),
        }
        for c in range(values.shape[-1])
    ]
