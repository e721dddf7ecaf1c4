"""Helpers of the API tests: the test Redis database, a fake finished run, and a check that an
answer is what the OpenAPI document says it is."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np

from dashboard.api.operations import OPERATIONS, replies
from shared import artifacts as names
from shared.config import RunConfig, infer_layers
from shared.store import SUCCEEDED, RunStore
from tests.redis_dbs import SINK_URL

TEST_REDIS = SINK_URL
PROBES = 10


def flush_test_redis() -> None:
    import redis

    with contextlib.suppress(redis.RedisError):  # no Redis: the tests that need it say so
        redis.Redis.from_url(TEST_REDIS, socket_timeout=1).flushdb()


def documented(response: Any, endpoint: str) -> Any:
    """The answer's JSON body, checked against what dashboard/api/operations/ (and so the
    document) says `endpoint` answers with this status: the status is listed, and the body is
    valid for its model with no key the model lacks. Returns the body."""
    listed = replies(OPERATIONS[endpoint], response.request.method)
    assert response.status_code in listed, (endpoint, response.status_code, sorted(listed))
    reply = listed[response.status_code]
    model = reply.model
    if model is None:  # a file of one of the listed types, or no body at all
        assert response.mimetype in reply.media if reply.media else not response.data
        return None
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    answer = model.model_validate(body)
    assert answer.model_dump(mode="json", exclude_unset=True) == body, "a key the model lacks"
    return body


def fake_trained_run(store: RunStore, run_id: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Write what a worker writes for a succeeded run (docs/CONTRACTS.md), and mark it so."""
    rng = np.random.default_rng(seed)
    files = store.files
    run = store.get_run(run_id)
    infos, _ = infer_layers(RunConfig.model_validate(run["config"]))
    written: dict[str, np.ndarray] = {}
    epochs = run["config"]["epochs"]
    for info in infos:
        if info.kernel_shape:
            kernel = rng.normal(size=info.kernel_shape).astype(np.float32)
            files.save_array(run_id, f"{names.FILTERS_DIR}/{info.name}.npy", kernel)
            stack = rng.normal(size=(epochs + 1, *info.kernel_shape)).astype(np.float16)
            files.save_array(run_id, f"{names.FILTERS_DIR}/epochs/{info.name}.npy", stack)
            written[info.name] = kernel
        acts = rng.random((PROBES, *info.output_shape)).astype(np.float16)
        files.save_array(run_id, f"{names.PROBE_DIR}/{info.name}.npy", acts)
        written[f"probe:{info.name}"] = acts
    inputs = rng.integers(0, 256, (PROBES, 28, 28), dtype=np.uint8)
    files.save_array(run_id, f"{names.PROBE_DIR}/inputs.npy", inputs)
    files.save_array(run_id, f"{names.PROBE_DIR}/labels.npy", np.arange(PROBES, dtype=np.int32))
    files.save_array(
        run_id, f"{names.PROBE_DIR}/indices.npy", np.arange(PROBES, dtype=np.int32) * 3
    )
    predictions = rng.dirichlet(np.ones(10), PROBES).astype(np.float32)
    files.save_array(run_id, f"{names.PROBE_DIR}/predictions.npy", predictions)
    written["inputs"], written["predictions"] = inputs, predictions
    files.write_bytes(run_id, names.MODEL, b"PK\x03\x04 not really a keras file")
    metrics = {
        "test": {"loss": 0.1, "accuracy": 0.97},
        "confusion": np.eye(10, dtype=int).tolist(),
        "classes": [str(d) for d in range(10)],
        "train_images": 7200,
        "val_images": 800,
        "seconds": 12.5,
        "images_per_second": 1728.0,
    }
    files.write_bytes(run_id, names.METRICS, json.dumps(metrics).encode())
    for epoch in range(1, epochs + 1):
        store.record_epoch(
            run_id,
            epoch,
            {"loss": 1.0 / epoch, "accuracy": 0.9, "val_loss": 1.1 / epoch, "val_accuracy": 0.88},
        )
    store.finish(run_id, SUCCEEDED, test_loss=0.1, test_accuracy=0.97)
    return written


def refused(response: Any, status: int, field: str | None, says: str) -> dict[str, Any]:
    """Check a hostile request's answer: `status` as JSON that says why in words, on the named
    field for a 422 (any field when `field` is None), or in `error` otherwise. The body, for the
    caller's own checks."""
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    if status == 422:
        fields = {e["field"]: e["message"] for e in body["errors"]}
        assert all(isinstance(m, str) and len(m) > 5 for m in fields.values()), fields
        if field:
            assert field in fields, fields
            assert says in fields[field], fields
    else:
        assert says in body["error"], body["error"]
        assert len(body["error"]) > 15
    return body
