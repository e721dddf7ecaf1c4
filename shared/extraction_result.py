"""The shape of an extraction result, shared by the worker that writes it and the API that reads it.

Both sides describe a cached `.npz` (keys `input`, `probabilities`, `layer:<name>`) the same way, so
a cache hit answered by the dashboard and a fresh result written by the worker are identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.artifacts import CACHE_DIR


def cache_rel(digest: str) -> str:
    return f"{CACHE_DIR}/{digest}.npz"


def summarize(run_id: str, digest: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The JSON result of an extraction, from its arrays (layer arrays under 'layer:<name>')."""
    probs = arrays["probabilities"].astype(float)
    return {
        "run_id": run_id,
        "input_hash": digest,
        "predicted": int(np.argmax(probs)),
        "probabilities": [round(float(p), 6) for p in probs],
        "layers": [
            {"name": key.split(":", 1)[1], "shape": list(arrays[key].shape)}
            for key in arrays
            if key.startswith("layer:")
        ],
        "download": f"/api/runs/{run_id}/artifacts/{cache_rel(digest)}",
    }
