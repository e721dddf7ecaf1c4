"""A training process kept for several runs (CNNLENS_TRAIN_RUNS_PER_PROCESS > 1) trains each as
if it were alone: one TensorFlow start for all of them, and a run trained after others gives the
same numbers as the same config trained first."""

from __future__ import annotations

import re

import numpy as np
import pytest

from shared.artifacts import FILTERS_DIR
from tests.integration.test_faults import SHORT, cluster, redis_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

WARM = re.compile(r"TensorFlow \S+ ready in")
TANH = [
    {"type": "conv2d", "filters": 8, "kernel_size": 5, "activation": "tanh"},
    {"type": "maxpool2d"},
    {"type": "flatten"},
    {"type": "dense", "units": 10, "activation": "softmax"},
]


def kernels(c, run_id: str) -> dict[str, np.ndarray]:
    """Every conv layer's final kernel, as training stored it."""
    found = {}
    for layer in ("conv2d_1", "conv2d_2"):
        kernel = c.store.files.load_array(run_id, f"{FILTERS_DIR}/{layer}.npy")
        if kernel is not None:
            found[layer] = kernel
    return found


def test_one_warm_process_trains_runs_back_to_back_as_if_each_were_alone(cluster):  # noqa: F811
    c = cluster()
    worker = c.worker("training", runs_per_process=3)
    first = c.submit({"name": "first", **SHORT})
    c.wait_status(first, ("succeeded", "failed"))
    other = c.submit({"name": "other model", **SHORT, "layers": TANH})
    c.wait_status(other, ("succeeded", "failed"))
    again = c.submit({"name": "first again", **SHORT})
    c.wait_status(again, ("succeeded", "failed"))

    runs = {rid: c.run(rid) for rid in (first, other, again)}
    assert all(r["status"] == "succeeded" for r in runs.values()), c.logs()
    # One pool process did all three: TensorFlow started once.
    assert len(WARM.findall(worker.log_path.read_text())) == 1, c.logs()
    # The repeat is the first run again, to the last digit: nothing of the runs in between
    # (Keras layer names, optimizer state, traced functions) leaked into it.
    assert runs[again]["history"] == runs[first]["history"]
    assert runs[again]["test"] == runs[first]["test"]
    a, b = kernels(c, first), kernels(c, again)
    assert a.keys() == b.keys() == {"conv2d_1", "conv2d_2"}
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert set(kernels(c, other)) == {"conv2d_1"}
