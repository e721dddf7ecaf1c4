"""A runs-table row as the API and the pages show it: parsed JSON columns and progress."""

from __future__ import annotations

import json
from typing import Any

from shared.run_states import SUCCEEDED


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
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "dataset": row["dataset"],
        "config": json.loads(row["config"]),
        "architecture": row["architecture"],
        "params": row["params"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "progress": {
            "epoch": row["epoch"],
            "epochs": epochs_total,
            "step": row["step"],
            "steps": steps,
            "fraction": round(min(1.0, frac), 4),
            "loss": row["loss"],
            "accuracy": row["accuracy"],
        },
        "val_accuracy": row["val_accuracy"],
        "test": {"loss": row["test_loss"], "accuracy": row["test_accuracy"]},
        "error": row["error"],
        "cancel_requested": bool(row["cancel_requested"]),
        "attempts": row["attempts"],
        "heartbeat_at": row["heartbeat_at"],
        "tags": json.loads(row["tags"] or "[]"),
        "notes": row["notes"] or "",
        "parent_id": row["parent_id"],
    }
