"""The parameters of the API's requests, as pydantic models: one model per place (path, query,
header) of an operation, one field per parameter.

`openapi.build_openapi` turns each field into an OpenAPI parameter (its JSON Schema, whether it is
required, its description). The views check parameters themselves, with sentences of their own;
the limits here are the constants they check against, so the two cannot drift.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from dashboard.api import artifacts, compare, runs
from dashboard.api.models import Absent
from shared import idempotency
from shared.config import MAX_EPOCHS, NAME_PATTERN
from shared.datasets import DATASETS
from shared.run_states import RunStatus
from shared.run_view import RunId


class Params(BaseModel):
    """The parameters in one place of a request (`place`: path, query or header)."""

    place: ClassVar[Literal["path", "query", "header"]]


class RunPath(Params):
    place = "path"
    run_id: RunId = Field(description="A run id: 32 lowercase hex digits.")


class JobPath(Params):
    place = "path"
    job_id: RunId = Field(description="A job id: 32 lowercase hex digits.")


class LayerPath(Params):
    place = "path"
    layer: str = Field(description="e.g. conv2d_1")


class ProbePath(Params):
    place = "path"
    k: int = Field(ge=0, description="Probe image index: the first test image of class k.")


class ArtifactPath(Params):
    place = "path"
    name: str = Field(
        description=f"{', '.join(artifacts.ARTIFACT_NAMES)}, or activations/cache/<hash>.npz"
    )


class ProbeQuery(Params):
    place = "query"
    layer: str | Absent = Field(
        None, description="Only this layer's activations (e.g. conv2d_1): an answer is smaller."
    )


class RunListQuery(Params):
    place = "query"
    status: RunStatus | Absent = Field(None, description="Only this status.")
    dataset: str | Absent = Field(
        None, json_schema_extra={"enum": list(DATASETS)}, description="Only runs on this dataset."
    )
    name: Annotated[str, Field(max_length=runs.MAX_NAME_FILTER, pattern=NAME_PATTERN)] | Absent = (
        Field(None, description="Only runs whose name contains this text (any case).")
    )
    limit: Annotated[int, Field(ge=1, le=runs.MAX_LIST)] | Absent = Field(
        None, description=f"At most this many runs (default {runs.DEFAULT_LIST})."
    )


Epoch = Annotated[int, Field(ge=0, le=MAX_EPOCHS)]


class EpochQuery(Params):
    place = "query"
    epoch: Epoch | Absent = Field(
        None,
        description="The kernel after this epoch (0: initial weights) instead of the final one.",
    )


class CompareEpochQuery(Params):
    place = "query"
    epoch: Epoch | Absent = Field(
        None,
        description="Match the filters after this epoch (0: initial weights) instead of the "
        "final ones; a run with fewer epochs uses its last.",
    )


class PairQuery(Params):
    place = "query"
    a: RunId = Field(description="The id of the first run (32 lowercase hex digits).")
    b: RunId = Field(description="The id of the second run (32 lowercase hex digits).")


LayerName = Annotated[str, Field(min_length=1, max_length=compare.MAX_LAYER_NAME)]


class CompareFiltersQuery(Params):
    place = "query"
    layer: LayerName = Field(description="A conv layer of run a, e.g. conv2d_1.")
    layer_b: LayerName | Absent = Field(
        None, description="The conv layer of run b (default: the same name as `layer`)."
    )
    absolute: bool | Absent = Field(
        None, description="Match on |correlation|, so a sign-flipped filter counts as similar."
    )


class AblationQuery(Params):
    place = "query"
    layer: LayerName = Field(description="One of the run's conv layers, e.g. conv2d_1.")


IdempotencyKey = Annotated[
    str, Field(min_length=1, max_length=idempotency.MAX_LENGTH, pattern=idempotency.KEY_PATTERN)
]


class IdempotencyHeader(Params):
    place = "header"
    key: IdempotencyKey | Absent = Field(
        None,
        alias=idempotency.HEADER,
        description="Any unique text (a UUID, say) that makes a retried request safe: a second "
        "request with the same key within 24 hours creates nothing and answers the run the first "
        "one created (200, `replayed: true`). The same key with another config is a 422.",
    )
