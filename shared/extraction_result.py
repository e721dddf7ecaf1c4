"""The shape of an extraction result, shared by the worker that writes it and the API that reads it.

Both sides describe a cached `.npz` (keys `input`, `probabilities`, `layer:<name>`) the same way, so
a cache hit answered by the dashboard and a fresh result written by the worker are identical:
`summarize` builds it through `ExtractionResult`, which the API's document shows too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from shared.artifacts import CACHE_DIR


class LayerShape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    shape: list[int]


class ExtractionResult(BaseModel):
    """Every layer's activations of one input, stored in the run folder (`download`)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    input_hash: str
    predicted: int
    probabilities: list[float | None] = Field(description="Per class; null where not finite.")
    layers: list[LayerShape] = Field(description="In model order.")
    download: str = Field(description="Where the arrays can be downloaded (.npz).")


def cache_rel(digest: str) -> str:
    return f"{CACHE_DIR}/{digest}.npz"


def summarize(run_id: str, digest: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The JSON result of an extraction, from its arrays (layer arrays under 'layer:<name>')."""
    probs = arrays["probabilities"].astype(float)
    return ExtractionResult(
        run_id=run_id,
        input_hash=digest,
        predicted=int(np.argmax(probs)),
        probabilities=[round(float(p), 6) for p in probs],
        layers=[
            LayerShape(name=key.split(":", 1)[1], shape=list(arrays[key].shape))
            for key in arrays
            if key.startswith("layer:")
        ],
        download=f"/api/runs/{run_id}/artifacts/{cache_rel(digest)}",
    ).model_dump()
