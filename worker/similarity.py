"""Layer similarity of two runs over the whole test set, with confidence intervals.

The second stage of a CKA job (`worker.compare_jobs.cka_job`): after the probe-batch answer is
written, the whole test set goes through both models one minibatch at a time, each minibatch adds
its unbiased HSIC values to a `shared.cka.MinibatchCka`, and the result replaces the probe answer
with the minibatch CKA and its bootstrap interval. Only one minibatch of activations is in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared import cka
from shared.store import RunStore
from worker.extraction import MODELS, ModelCache

ESTIMATOR = "minibatch-unbiased"


def _clipped(matrix: list[list[float]]) -> list[list[float]]:
    """CKA lies in [0, 1]; an unbiased estimate, or a bound of its interval, can stray a little
    outside it by chance, and is reported at the nearest end."""
    return [[min(1.0, max(0.0, v)) for v in row] for row in matrix]


def full_test_set_cka(
    store: RunStore,
    run_a: str,
    run_b: str,
    test_images: np.ndarray,
    cache: ModelCache = MODELS,
    batch_size: int = cka.BATCH_SIZE,
) -> dict[str, Any]:
    """{"matrix", "lower", "upper", "layers_a", "layers_b", "test_images", "batches",
    "batch_size", "level", "estimator"} over every image of `test_images` (uint8 (n, 28, 28))."""
    from worker.compare_jobs import layer_outputs  # the batched forward pass

    acc = cka.MinibatchCka()
    for start, stop in cka.batch_bounds(len(test_images), batch_size):
        images = test_images[start:stop]
        outputs_a = layer_outputs(store, run_a, images, cache)
        outputs_b = outputs_a if run_b == run_a else layer_outputs(store, run_b, images, cache)
        acc.add(outputs_a, outputs_b)
    result = acc.result()
    for key in ("matrix", "lower", "upper"):
        result[key] = _clipped(result[key])
    return result | {"batch_size": batch_size, "level": cka.LEVEL, "estimator": ESTIMATOR}
