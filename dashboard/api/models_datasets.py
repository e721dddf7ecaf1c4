"""The datasets API's bodies and parameters as pydantic models (dashboard/api/datasets.py).

A dataset is a built-in one (`id` its name, `builtin` true) or an imported one (`id` 32 hex
digits); an imported one is `importing` until its job makes it `ready` or `failed`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dashboard.api.models import Answer, Closed
from dashboard.api.params import Params

DATASET_KEY = r"^([a-z0-9_-]{1,32})$"


class DatasetPath(Params):
    place = "path"
    dataset_id: str = Field(
        pattern=DATASET_KEY,
        description="An imported dataset's id (32 hex digits) or a built-in dataset's name.",
    )


class Counts(Answer):
    train: int
    test: int
    train_per_class: list[int]
    test_per_class: list[int]


class Dataset(Answer):
    """A dataset: its shape (height, width, channels), classes and image counts once known."""

    id: str
    name: str
    builtin: bool
    status: Literal["importing", "ready", "failed", "unavailable"]
    progress: float = Field(ge=0, le=1, description="Of the import, 0 to 1.")
    error: str | None = Field(description="Why it failed (or why a built-in one is missing).")
    shape: list[int] | None = Field(description="[height, width, channels]; null while importing.")
    classes: list[str] | None
    num_classes: int | None
    counts: Counts | None = Field(description="Images per set and class (imported datasets).")
    notes: list[str] = Field(description="e.g. how many pictures were resized, and to what.")
    source: str = Field(description="npz, zip or builtin.")
    job_id: str | None = Field(description="The import job (GET /api/jobs/{job_id}).")
    created_at: float | None
    finished_at: float | None
    url: str
    job_url: str | None


class DatasetList(Answer):
    datasets: list[Dataset]


class DatasetDeleted(Answer):
    deleted: str


class DatasetUpload(Closed):
    """A multipart form: the archive, the dataset's name, and how to split a single set."""

    file: bytes = Field(
        description="A .npz (x_train, y_train, x_test, y_test) or a .zip of class folders "
        "(train/<class>/… and test/<class>/…, or <class>/… split by test_fraction)."
    )
    # Any form field arrives as text, so the name has no JSON type here (a "true" is a name too);
    # its length is what the view checks.
    name: Any = Field(
        description="The dataset's name, 1 to 120 printable characters.",
        json_schema_extra={"minLength": 1, "maxLength": 120},
    )
    test_fraction: float = Field(
        0.2,
        ge=0.05,
        le=0.5,
        description="For a zip of class folders alone: the share of each class kept for testing.",
    )
