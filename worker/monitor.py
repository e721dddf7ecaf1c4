"""What a training reports while it runs: progress, cooperative cancel, per-epoch records."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import keras
import numpy as np

from shared.artifacts import FILTERS_DIR
from shared.store import RUNNING, RunStore
from worker import epoch_weights
from worker.lease import Heartbeat

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.5  # seconds between progress writes: at most ~2 a second
CONTROL_INTERVAL = 1.0  # seconds between looks at the run row (cancel flag, deleted, taken over)

# Why a training stops early; None while it may go on.
CANCELLED, GONE, LOST, DIVERGED = "cancelled", "gone", "lost", "diverged"


def finite(value: Any) -> float | None:
    """A float for the store, or None for NaN/inf (they are not valid JSON for the API)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def epoch_snapshot_rel(layer: str) -> str:
    return f"{FILTERS_DIR}/epochs/{layer}.npy"


class RunMonitor(keras.callbacks.Callback):
    """Records each completed epoch and reports progress at epoch boundaries.

    Place it BEFORE BackupAndRestore in the callback list: an epoch is recorded (history row and
    kernel snapshot) before its backup is written, so a crash between the two only means the epoch
    is trained and recorded again on resume, never a backed-up epoch missing from the history.

    It has no batch hook: `LiveRunMonitor` adds live progress and mid-epoch stops, and this class
    alone is what `CNNLENS_PROGRESS=0` trains with, so benchmarks can measure what those cost.
    """

    def __init__(
        self,
        store: RunStore,
        heartbeat: Heartbeat,
        attempt: int,
        epochs: int,
        steps: int,
        conv_layers: list[str],
    ):
        super().__init__()
        self.store, self.heartbeat = store, heartbeat
        self.run_id = heartbeat.run_id
        self.attempt, self.epochs, self.steps = attempt, epochs, steps
        self.conv_layers = conv_layers
        self.stop_reason: str | None = None
        self.epochs_completed = 0  # by this fit (a resumed run starts again from 0)
        self.snapshots: dict[str, list[np.ndarray]] | None = None  # set at the first epoch
        self.keep_weights = False  # every epoch's full weights (worker/epoch_weights.py)
        self._epoch = 0
        self._epoch_started = 0.0
        self._last_control = -math.inf

    # --- control -------------------------------------------------------------------------
    def check_control(self) -> str | None:
        """Look at the run row once: deleted, cancelled, or claimed by another worker?"""
        self._last_control = time.monotonic()
        run = self.store.get_run(self.run_id, with_history=False)
        if run is None:
            return GONE
        # Another claim bumps `attempts`; `interrupted` means a sweep gave up on us; a heartbeat
        # that matched no row says the same. Either way the run is no longer ours and whoever
        # holds it next resumes from the checkpoint.
        if self.heartbeat.lost or run["status"] != RUNNING or run["attempts"] != self.attempt:
            return LOST
        if run["cancel_requested"]:
            return CANCELLED
        return None

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            log.info("run %s stops early: %s", self.run_id, reason)
            self.stop_reason = reason
        self.model.stop_training = True

    # --- Keras hooks ---------------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.snapshots is None:
            self._start_snapshots(epoch)
        self._epoch = epoch + 1
        self._epoch_started = time.monotonic()
        self.heartbeat.beat(epoch=self._epoch, epochs=self.epochs, step=0, steps=self.steps)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.stop_reason:
            return  # a cut-short epoch is not a completed one: record nothing
        seconds = time.monotonic() - self._epoch_started
        self.epochs_completed += 1
        self._append_snapshot()
        if self.keep_weights:
            epoch_weights.save(self.store, self.run_id, self.model, epoch + 1)
        self.store.record_epoch(self.run_id, epoch + 1, dict(logs or {}), seconds)
        self.heartbeat.beat(
            epoch=epoch + 1,
            epochs=self.epochs,
            step=self.steps,
            steps=self.steps,
            loss=finite((logs or {}).get("loss")),
            accuracy=finite((logs or {}).get("accuracy")),
        )

    # --- kernel snapshots: filters/epochs/<layer>.npy, index e = after e epochs -------------
    def _kernels(self) -> dict[str, np.ndarray]:
        return {
            name: np.asarray(self.model.get_layer(name).kernel.numpy(), dtype=np.float16)
            for name in self.conv_layers
        }

    def _start_snapshots(self, first_epoch: int) -> None:
        """Fresh run: index 0 = initial weights. Resumed at epoch e (e epochs done, weights just
        restored): keep the stored entries 0..e-1, dropping any written for epochs the backup did
        not keep, and put the restored weights at index e."""
        snapshots: dict[str, list[np.ndarray]] = {}
        for name, kernel in self._kernels().items():
            prior = self.store.files.load_array(self.run_id, epoch_snapshot_rel(name))
            kept: list[np.ndarray] = []
            if prior is not None and prior.shape[1:] == kernel.shape:
                kept = [np.asarray(k, dtype=np.float16) for k in prior[:first_epoch]]
            while len(kept) < first_epoch:  # lost entries: the restored weights are all we have
                kept.append(kernel)
            kept.append(kernel)
            snapshots[name] = kept
        self.snapshots = snapshots
        for name in snapshots:
            self._save_snapshot(name)
        # Whole models too, when small; a resumed run keeps the epochs written before.
        self.keep_weights = epoch_weights.kept(self.model, self.epochs)
        if self.keep_weights:
            epoch_weights.save(self.store, self.run_id, self.model, first_epoch)

    def _append_snapshot(self) -> None:
        assert self.snapshots is not None
        for name, kernel in self._kernels().items():
            self.snapshots[name].append(kernel)
            self._save_snapshot(name)

    def _save_snapshot(self, name: str) -> None:
        assert self.snapshots is not None
        self.store.files.save_array(
            self.run_id, epoch_snapshot_rel(name), np.stack(self.snapshots[name])
        )


class LiveRunMonitor(RunMonitor):
    """RunMonitor plus live progress, cancel, deletion and divergence checks between batches.

    With steps_per_execution = k, Keras calls the batch hook once per k batches; the store is
    written at most every PROGRESS_INTERVAL and read every CONTROL_INTERVAL, so the hook costs a
    time comparison on most calls.
    """

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop(DIVERGED)
            return
        now = time.monotonic()
        if now - self.heartbeat.last >= PROGRESS_INTERVAL:
            self.heartbeat.beat(
                epoch=self._epoch,
                epochs=self.epochs,
                # With steps_per_execution, Keras names the last step the call could have run,
                # which passes the epoch's end on its final call.
                step=min(batch + 1, self.steps),
                steps=self.steps,
                loss=finite(loss),
                accuracy=finite(logs.get("accuracy")),
            )
        # A heartbeat that found the lease gone is worth a look at once, not a second later.
        if self.heartbeat.lost or now - self._last_control >= CONTROL_INTERVAL:
            reason = self.check_control()
            if reason:
                self._stop(reason)
