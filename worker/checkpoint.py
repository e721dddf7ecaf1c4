"""Per-epoch training state that survives a kill at any instant (`<run>/checkpoint/`).

Keras' `BackupAndRestore` writes its weights and its small JSON of the epoch in place, one after the
other. A worker killed in the middle of either (seen here: SIGKILL right after an epoch ends) leaves
a torn file; on the first epoch there is no previous copy to fall back to, and a torn JSON is not
even an OSError, so the resumed run failed for good. This subclass keeps Keras' restore mechanics
and changes only how the state is written and found:

- the weights of epoch e go to `epoch-<e>.weights.h5`, written under a temporary name, flushed to
  disk and renamed into place;
- then `state.json` (`{"epoch": e, "weights": "epoch-<e>.weights.h5"}`) is replaced the same way:
  that rename is the instant the new state counts;
- only then are older weight files removed.

So `state.json` always names a complete weights file. A state that cannot be read at all (a disk
error) is reported and the run starts over from its first epoch rather than failing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import keras

log = logging.getLogger(__name__)

STATE = "state.json"


def _replace_durably(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


class EpochBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore at each epoch end, written so that a kill never tears the state."""

    def __init__(self, backup_dir: str | Path):
        super().__init__(
            backup_dir=str(backup_dir),
            save_freq="epoch",
            double_checkpoint=False,
            delete_checkpoint=False,  # the trainer removes it after the results are written
        )
        self.folder = Path(backup_dir)

    def read_state(self) -> dict[str, Any] | None:
        path = self.folder / STATE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        if not isinstance(state.get("epoch"), int) or "/" in str(state.get("weights")):
            raise ValueError(f"unexpected checkpoint state {state!r}")
        return state

    def on_train_begin(self, logs: dict | None = None) -> None:
        try:
            state = self.read_state()
            if state is None:
                return
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(str(self.folder / state["weights"]))
        except (OSError, ValueError) as exc:
            log.warning("the checkpoint in %s is unreadable (%s); starting over", self.folder, exc)
            return
        self.model._initial_epoch = state["epoch"]  # how Keras' own restore resumes fit()

    def _save_model(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        epoch = self._current_epoch
        name = f"epoch-{epoch}.weights.h5"
        tmp = self.folder / f"tmp-{name}"  # Keras wants the .weights.h5 ending
        self.model.save_weights(str(tmp), overwrite=True)
        _replace_durably(tmp, self.folder / name)
        state_tmp = self.folder / f"{STATE}.tmp"
        state_tmp.write_text(json.dumps({"epoch": epoch, "weights": name}))
        _replace_durably(state_tmp, self.folder / STATE)
        for old in self.folder.glob("*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)
