"""Layer similarity over a whole test set, and how sure it is: minibatch CKA with the unbiased HSIC.

The probe-batch CKA of `shared.analysis` is the plain (biased) estimator on a few hundred images,
held in memory at once. This module follows Nguyen, Raghu & Kornblith (2021, "Do wide and deep
networks learn the same things?"): the test set is cut into minibatches, and on each minibatch the
*unbiased* HSIC estimator (Song et al., 2012) is computed for every pair of layers. Because each
minibatch's HSIC is unbiased, their mean is an unbiased estimate of the population HSIC, so

    CKA = mean_i HSIC₁(K_i, L_i) / sqrt(mean_i HSIC₁(K_i, K_i) · mean_i HSIC₁(L_i, L_i))

does not depend on the minibatch size the way the biased estimator does on the sample size, and
never needs more than one minibatch of activations in memory.

The confidence interval is a percentile bootstrap over minibatches: resample the minibatches with
replacement, recompute the ratio, take the 2.5th and 97.5th percentiles. The minibatches are
disjoint sets of images drawn from the same test set, so their HSIC values are exchangeable.

Pure numpy, float64 throughout; the worker feeds it one minibatch of layer outputs at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIN_BATCH = 4  # the unbiased estimator divides by n(n-3)
BATCH_SIZE = 100
BOOTSTRAP = 1000
LEVEL = 0.95
SEED = 0


def _gram(x: Any) -> np.ndarray:
    """Linear Gram matrix X Xᵀ of (n, ...) activations, in float64, with a zero diagonal."""
    a = np.asarray(x)
    if a.ndim == 0 or a.shape[0] < MIN_BATCH:
        raise ValueError(
            f"the unbiased HSIC needs at least {MIN_BATCH} examples, got shape {np.shape(x)}"
        )
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError("activations contain NaN or infinity; CKA is undefined for them")
    # Centring changes no unbiased HSIC, but it keeps the Gram's entries small, so the sums
    # below lose fewer digits to cancellation.
    a -= a.mean(axis=0)
    gram = a @ a.T
    np.fill_diagonal(gram, 0.0)
    return gram


@dataclass(frozen=True)
class _GramParts:
    """What the unbiased HSIC needs of a zero-diagonal Gram K̃: K̃ itself, its row sums, total."""

    flat: np.ndarray  # (n*n,)
    rows: np.ndarray  # (n,)
    total: float

    @classmethod
    def of(cls, x: Any) -> _GramParts:
        gram = _gram(x)
        rows = gram.sum(axis=1)
        return cls(gram.ravel(), rows, float(rows.sum()))


def _hsic_table(parts_a: Sequence[_GramParts], parts_b: Sequence[_GramParts], n: int) -> np.ndarray:
    """Unbiased HSIC₁ of every pair (a, b) of zero-diagonal Grams on the same n examples:

    HSIC₁(K, L) = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((n-1)(n-2)) − 2/(n-2) · 1ᵀK̃L̃1] / (n(n-3)).
    """
    flat_a = np.stack([p.flat for p in parts_a])
    flat_b = np.stack([p.flat for p in parts_b])
    rows_a = np.stack([p.rows for p in parts_a])
    rows_b = np.stack([p.rows for p in parts_b])
    totals_a = np.array([p.total for p in parts_a])
    totals_b = np.array([p.total for p in parts_b])
    trace = flat_a @ flat_b.T  # tr(K̃L̃) = Σ K̃ ∘ L̃, both symmetric
    ones = np.outer(totals_a, totals_b) / ((n - 1) * (n - 2))
    cross = rows_a @ rows_b.T * (2.0 / (n - 2))  # 1ᵀK̃L̃1 = (K̃1)·(L̃1)
    return np.asarray((trace + ones - cross) / (n * (n - 3)))


def unbiased_hsic(x: Any, y: Any) -> float:
    """The unbiased HSIC estimator of linear kernels on x and y, both (n, ...), n ≥ 4."""
    px, py = _GramParts.of(x), _GramParts.of(y)
    n = len(px.rows)
    if len(py.rows) != n:
        raise ValueError(f"x and y must describe the same examples: {n} vs {len(py.rows)}")
    return float(_hsic_table([px], [py], n)[0, 0])


def _ratio(cross: np.ndarray, self_a: np.ndarray, self_b: np.ndarray) -> np.ndarray:
    """CKA from (mean) HSIC values, broadcasting over leading axes; 0 where a layer has no
    variance (its HSIC with itself is not positive)."""
    denominator = np.sqrt(
        np.clip(self_a[..., :, None], 0, None) * np.clip(self_b[..., None, :], 0, None)
    )
    return np.divide(
        cross,
        denominator,
        out=np.zeros(np.broadcast(cross, denominator).shape),
        where=denominator > 0,
    )


@dataclass
class MinibatchCka:
    """Accumulates per-minibatch unbiased HSIC for every pair (layer of A, layer of B).

    Call `add(outputs_a, outputs_b)` with each minibatch's layer outputs (name -> (n, ...) array,
    the same images through both runs; pass the same mapping twice for a run with itself), then
    `result()`.
    """

    layers_a: list[str] = field(default_factory=list)
    layers_b: list[str] = field(default_factory=list)
    cross: list[np.ndarray] = field(default_factory=list)  # per batch: (La, Lb)
    self_a: list[np.ndarray] = field(default_factory=list)  # per batch: (La,)
    self_b: list[np.ndarray] = field(default_factory=list)  # per batch: (Lb,)
    images: int = 0

    def add(self, outputs_a: Mapping[str, Any], outputs_b: Mapping[str, Any]) -> None:
        names_a, names_b = list(outputs_a), list(outputs_b)
        if not names_a or not names_b:
            raise ValueError("no layers to compare")
        if not self.cross:
            self.layers_a, self.layers_b = names_a, names_b
        elif (names_a, names_b) != (self.layers_a, self.layers_b):
            raise ValueError("every minibatch must have the same layers")
        parts_a = [_GramParts.of(outputs_a[name]) for name in names_a]
        same = outputs_b is outputs_a
        parts_b = parts_a if same else [_GramParts.of(outputs_b[name]) for name in names_b]
        n = len(parts_a[0].rows)
        if any(len(p.rows) != n for p in (*parts_a, *parts_b)):
            raise ValueError("every layer of a minibatch must describe the same images")
        self.cross.append(_hsic_table(parts_a, parts_b, n))
        self.self_a.append(np.array([_hsic_table([p], [p], n)[0, 0] for p in parts_a]))
        self.self_b.append(
            self.self_a[-1] if same else np.array([_hsic_table([p], [p], n)[0, 0] for p in parts_b])
        )
        self.images += n

    def estimate(self) -> np.ndarray:
        """The minibatch CKA matrix (La, Lb)."""
        if not self.cross:
            raise ValueError("no minibatch was added")
        return _ratio(
            np.mean(self.cross, axis=0), np.mean(self.self_a, axis=0), np.mean(self.self_b, axis=0)
        )

    def bootstrap(
        self, rounds: int = BOOTSTRAP, level: float = LEVEL, seed: int = SEED
    ) -> tuple[np.ndarray, np.ndarray]:
        """Percentile bootstrap interval over minibatches: (lower, upper), each (La, Lb).

        With a single minibatch there is nothing to resample: both bounds are the estimate.
        """
        point = self.estimate()
        batches = len(self.cross)
        if batches < 2:
            return point.copy(), point.copy()
        rng = np.random.default_rng(seed)
        # How often each minibatch is drawn in each round: (rounds, batches), rows sum to batches.
        counts = rng.multinomial(batches, np.full(batches, 1.0 / batches), size=rounds) / batches
        cross = np.einsum("rb,bij->rij", counts, np.asarray(self.cross))
        self_a = counts @ np.asarray(self.self_a)
        self_b = counts @ np.asarray(self.self_b)
        samples = _ratio(cross, self_a, self_b)  # (rounds, La, Lb)
        tail = (1.0 - level) / 2.0 * 100.0
        lower, upper = np.percentile(samples, [tail, 100.0 - tail], axis=0)
        return lower, upper

    def result(self, digits: int = 6) -> dict[str, Any]:
        """{"layers_a", "layers_b", "matrix", "lower", "upper", "test_images", "batches"}."""
        point = self.estimate()
        lower, upper = self.bootstrap()

        def rounded(m: np.ndarray) -> list[list[float]]:
            return [[round(float(v), digits) for v in row] for row in m]

        return {
            "layers_a": self.layers_a,
            "layers_b": self.layers_b,
            "matrix": rounded(point),
            "lower": rounded(lower),
            "upper": rounded(upper),
            "test_images": self.images,
            "batches": len(self.cross),
        }


def batch_bounds(images: int, batch_size: int = BATCH_SIZE) -> list[tuple[int, int]]:
    """[start, stop) of each minibatch: as many as fit `batch_size`, sizes differing by at most
    one (so no short last batch), at least one, every one of at least MIN_BATCH images."""
    if images < MIN_BATCH:
        raise ValueError(f"minibatch CKA needs at least {MIN_BATCH} images, got {images}")
    count = max(1, images // max(batch_size, MIN_BATCH))
    edges = np.linspace(0, images, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
