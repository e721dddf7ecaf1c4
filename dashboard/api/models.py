"""The JSON bodies of the API as pydantic models: what requests send and what answers hold.

`dashboard/api/openapi.py` generates /api/openapi.json from these (pydantic's own JSON Schema),
and the API tests validate real answers against them, so the document, the views and the tests
share one description. The run config is `shared.config.RunConfig`, a run row
`shared.run_view.RunRow` and an extraction result `shared.extraction_result.ExtractionResult`:
reused here, not copied. The comparison answers are in `models_compare.py`.

Answers are described as they are, not closed (`extra` keys are ignored on validation, so a
client never breaks on a new key); the tests check that an answer has no key its model lacks.
Request bodies are closed, as the views refuse unknown fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypeAliasType

from dashboard.service.run_actions import MAX_NOTES, MAX_TAGS, NOTES_CONTROL, TAG_RE
from shared.config import INPUT_SHAPE, MAX_NAME, NAME_PATTERN, LayerInfo, RunConfig
from shared.extraction_result import ExtractionResult
from shared.images import MAX_BYTES
from shared.run_states import JobStatus, RunStatus
from shared.run_view import RunId, RunRow

IMAGE_SIDE = INPUT_SHAPE[0]
MAX_TEST_INDEX = 9_999  # the largest test sets (MNIST, Fashion-MNIST) have 10,000 images
TAG_PATTERN = f"^{TAG_RE.pattern}$"
NOTES_PATTERN = f"^[^{NOTES_CONTROL.pattern[1:-1]}]*$"  # no control characters but \t \n \r

# A numeric array of any depth, as nested lists; NaN or infinite values are null.
NestedNumbers = TypeAliasType("NestedNumbers", "list[float | None | NestedNumbers]")
Shape = Annotated[list[int], Field(description="The array's shape.")]
# A key an answer may leave out (never null): `None` only stands for "absent" in Python.
Absent = SkipJsonSchema[None]


class Answer(BaseModel):
    """Base of the answer models: described as sent, extra keys ignored."""


class Closed(BaseModel):
    """Base of the request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------------


class Error(Answer):
    """Every refusal but invalid input: a sentence saying what was wrong."""

    error: str = Field(description="What was wrong, in a sentence.")


class NotAllowed(Error):
    """A method the path does not take (405, with an Allow header)."""

    allowed: list[str]


class FieldError(Answer):
    field: str = Field(description="The field, as a dotted path (layers.2.kernel_size).")
    message: str


class ValidationErrors(Answer):
    """Invalid input: one message per field."""

    errors: list[FieldError] = Field(min_length=1)


# --- health ---------------------------------------------------------------------------------------


class Health(Answer):
    status: Literal["ok", "degraded"]
    broker: bool = Field(description="The task queue answers.")
    store: bool = Field(description="The run store answers.")
    version: str


class OpenApiDocument(RootModel[dict[str, Any]]):
    """The OpenAPI 3.1 document of this API."""


# --- runs -----------------------------------------------------------------------------------------


class Run(RunRow):
    """A run as listed (GET /api/runs)."""

    model_config = ConfigDict(extra="ignore")  # an answer, like every `Answer`

    # The store keeps what it read; the API says (and its tests check) that it is a full RunConfig.
    config: RunConfig  # type: ignore[assignment]


class History(Answer):
    """Per-epoch metrics, one value per finished epoch (null where not finite); the keys are
    `shared.store.HISTORY_KEYS` (a test checks)."""

    loss: list[float | None]
    accuracy: list[float | None]
    val_loss: list[float | None]
    val_accuracy: list[float | None]


class Artifact(Answer):
    name: str
    url: str = Field(description="Where to download it.")
    size: int | None = Field(description="Bytes, for stored files; null for generated ones.")


class RunDetail(Run):
    """A run with its per-epoch history, layer table and downloads (GET /api/runs/{id})."""

    history: History
    layers: list[LayerInfo]
    artifacts: list[Artifact]


class RunCreated(RunDetail):
    """The run a submit or retry created (or, with a repeated Idempotency-Key, created before)."""

    replayed: bool = Field(
        description="true when an Idempotency-Key named a run an earlier request created: "
        "this is that run, and nothing new was made"
    )
    warning: str | Absent = Field(
        None, description="The task queue was not reachable: the run starts when it is back."
    )


class RunList(Answer):
    runs: list[Run] = Field(description="Newest first.")


class CancelAnswer(Answer):
    id: RunId
    status: RunStatus
    cancel_requested: bool


Tag = Annotated[str, Field(pattern=TAG_PATTERN)]


class RunPatch(Closed):
    """Any of name, tags and notes; the others are left as they are."""

    name: (
        Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)] | Absent
    ) = Field(None, description="The display name (surrounding spaces are dropped).")
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | Absent = Field(
        None, description="Replaces the tags; duplicates are dropped."
    )
    notes: Annotated[str, Field(max_length=MAX_NOTES, pattern=NOTES_PATTERN)] | Absent = Field(
        None, description="Free text; newlines and tabs are kept."
    )


# --- jobs -----------------------------------------------------------------------------------------


class Job(Answer):
    """An extraction, CKA or statistics job; `result` is set once it succeeded."""

    id: RunId
    kind: str
    status: JobStatus
    run_id: str | None
    result: Any = Field(
        description="The job's answer: an ExtractionResult, CkaResult or FilterStats."
    )
    error: str | None
    progress: Annotated[float, Field(ge=0, le=1)] | None = Field(
        description="How far a running job has got, from 0 to 1; null when the job does not say "
        "(it is short) or has not started."
    )
    created_at: float
    finished_at: float | None


# --- filters and activations ----------------------------------------------------------------------


class FilterLayer(Answer):
    name: str
    kernel_shape: Shape
    available: bool = Field(description="The learned filters are stored.")
    epochs_available: bool = Field(description="The filters after every epoch are stored.")


class FilterList(Answer):
    """The run's conv layers and whether their filters are stored yet."""

    run_id: RunId
    layers: list[FilterLayer]


class FilterValues(Answer):
    """One conv layer's kernel, shape (kh, kw, cin, cout), values rounded to 6 digits."""

    run_id: RunId
    layer: str
    epoch: int | None = Field(description="The epoch it is from; null for the final kernel.")
    shape: Shape
    values: NestedNumbers


class LayerActivations(Answer):
    name: str
    type: str
    shape: Shape
    values: NestedNumbers


class ProbeActivations(Answer):
    """Probe image `index`: its input, label, class probabilities and every layer's activations
    (rounded to 4 digits)."""

    run_id: RunId
    index: int
    count: int = Field(description="How many probe images the run has.")
    label: int
    class_name: str
    test_index: int | None = Field(description="Where the image is in the test set.")
    input: list[list[int]] | None
    probabilities: list[float | None] | None
    predicted: int | None
    layers: list[LayerActivations]


Pixel = Annotated[int, Field(ge=0, le=255)]
ImageRow = Annotated[list[Pixel], Field(min_length=IMAGE_SIDE, max_length=IMAGE_SIDE)]


class IndexedImage(Closed):
    test_index: int = Field(ge=0, le=MAX_TEST_INDEX, description="A test-set image.")


class GridImage(Closed):
    image: list[ImageRow] = Field(
        min_length=IMAGE_SIDE,
        max_length=IMAGE_SIDE,
        description=f"{IMAGE_SIDE} rows of {IMAGE_SIDE} grey levels, 0 (black) to 255.",
    )


class DataUrlImage(Closed):
    image_data_url: str = Field(
        pattern="^data:image/[a-z.+-]+;base64,",
        description="A PNG/JPEG/GIF/BMP/WebP picture of any size, as a data URL (what a "
        "browser canvas gives); converted MNIST-style.",
    )


class ActivationRequest(RootModel[IndexedImage | GridImage | DataUrlImage]):
    """A test-set image by index, a 28×28 grayscale image (0–255), or a picture as a data URL."""


class ActivationUpload(Closed):
    """A picture file, converted to a 28×28 white-on-black input like MNIST's."""

    image: bytes = Field(
        description=f"A PNG/JPEG/GIF/BMP/WebP picture of any size up to {MAX_BYTES // 2**20} MB."
    )


INPUT_PNG = "For a picture: the 28×28 input the model got, as a PNG data URL."


class ActivationsCached(Answer):
    """Extracted before: the result."""

    status: Literal["cached"]
    result: ExtractionResult
    input_png: str | Absent = Field(None, description=INPUT_PNG)


class JobQueued(Answer):
    """A worker job computes the answer: poll `job_url`; its `result` is the answer."""

    status: Literal["queued"]
    job_id: RunId
    job_url: str
    input_png: str | Absent = Field(None, description=INPUT_PNG)
