"""The RunStore's per-epoch history: one SQL row per epoch, mirrored to the run's history.jsonl.

A resumed run trains its last epoch again, so writing an epoch replaces it and every later one
instead of adding a row. `RunStore` mixes these calls in.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from shared import db
from shared.artifacts import HISTORY, Artifacts

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class EpochHistory:
    """Record and read a run's per-epoch metrics (a mixin of `RunStore`)."""

    engine: Engine
    files: Artifacts

    def record_epoch(
        self, run_id: str, epoch: int, metrics: dict[str, float], seconds: float | None = None
    ) -> None:
        """Upsert one epoch's metrics (a resumed run rewrites, never duplicates, an epoch)."""
        values = {k: _finite(metrics.get(k)) for k in HISTORY_KEYS}
        with self.engine.begin() as conn:
            conn.execute(
                delete(db.epochs).where(db.epochs.c.run_id == run_id, db.epochs.c.epoch >= epoch)
            )
            conn.execute(
                insert(db.epochs).values(run_id=run_id, epoch=epoch, seconds=seconds, **values)
            )
            conn.execute(
                update(db.runs)
                .where(db.runs.c.id == run_id)
                .values(val_accuracy=values["val_accuracy"])
            )
        lines = [json.dumps({"epoch": e} | h) for e, h in self.history_rows(run_id)]
        self.files.write_bytes(run_id, HISTORY, ("\n".join(lines) + "\n").encode())

    def history_rows(self, run_id: str) -> list[tuple[int, dict[str, float | None]]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(db.epochs)
                    .where(db.epochs.c.run_id == run_id)
                    .order_by(db.epochs.c.epoch)
                )
                .mappings()
                .all()
            )
        return [(r["epoch"], {k: r[k] for k in (*HISTORY_KEYS, "seconds")}) for r in rows]

    def history(self, run_id: str) -> dict[str, list[float | None]]:
        rows = self.history_rows(run_id)
        return {k: [h[k] for _, h in rows] for k in HISTORY_KEYS}


def _finite(value: Any) -> float | None:
    """NaN and infinities become None: JSON has no word for them."""
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None
