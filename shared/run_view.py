"""A runs-table row as the API and the pages show it: parsed JSON columns and progress.

`RunRow` is that shape, once: `run_view` builds every row through it, and the API's models and
its OpenAPI document (dashboard/api/models.py) extend it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.artifacts import RUN_ID_PATTERN
from shared.run_states import SUCCEEDED, TRAINED, RunOrigin, RunStatus

RunId = Annotated[str, Field(pattern=RUN_ID_PATTERN, description="32 lowercase hex digits")]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Progress(_Shape):
    """Where training is: `epoch` is the 1-based epoch in progress, `step` the batch within it."""

    epoch: int | None
    epochs: int
    step: int | None
    steps: int
    fraction: float = Field(ge=0, le=1)
    loss: float | None
    accuracy: float | None


class Evaluation(_Shape):
    """Loss and accuracy on the test set, once the run succeeded."""

    loss: float | None
    accuracy: float | None


class RunRow(_Shape):
    """A run as listed: its status, progress, results, and what the user set (name, tags, notes)."""

    id: RunId
    name: str
    status: RunStatus
    dataset: str
    config: dict[str, Any] = Field(description="The validated run config (RunConfig).")
    architecture: str
    params: int
    created_at: float = Field(description="Unix time, seconds (as are the other times).")
    started_at: float | None
    finished_at: float | None
    progress: Progress
    val_accuracy: float | None
    test: Evaluation
    error: str | None
    cancel_requested: bool
    attempts: int
    heartbeat_at: float | None
    tags: list[str]
    notes: str
    parent_id: str | None
    origin: RunOrigin = Field(
        "trained", description="trained here, or imported from a .keras file and evaluated"
    )


def run_view(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the API shows it."""
    steps = row["steps"] or 0
    epochs_total = row["epochs"] or 0
    done_epochs = max(0, (row["epoch"] or 0) - 1)
    frac = 0.0
    if row["status"] == SUCCEEDED:
        frac = 1.0
    elif epochs_total:
        frac = (done_epochs + ((row["step"] or 0) / steps if steps else 0.0)) / epochs_total
    return RunRow(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        dataset=row["dataset"],
        config=json.loads(row["config"]),
        architecture=row["architecture"],
        params=row["params"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        progress=Progress(
            epoch=row["epoch"],
            epochs=epochs_total,
            step=row["step"],
            steps=steps,
            fraction=round(min(1.0, max(0.0, frac)), 4),
            loss=row["loss"],
            accuracy=row["accuracy"],
        ),
        val_accuracy=row["val_accuracy"],
        test=Evaluation(loss=row["test_loss"], accuracy=row["test_accuracy"]),
        error=row["error"],
        cancel_requested=bool(row["cancel_requested"]),
        attempts=row["attempts"],
        heartbeat_at=row["heartbeat_at"],
        tags=json.loads(row["tags"] or "[]"),
        notes=row["notes"] or "",
        parent_id=row["parent_id"],
        origin=row.get("origin") or TRAINED,
    ).model_dump()
