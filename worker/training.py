"""Train one run: claim it, fit, write its files, mark it finished. Called by the `train` task.

A task can be delivered twice (at-least-once broker) and a worker can die mid-run, so:
- `RunStore.claim` decides who trains: a duplicate delivery finds the run taken or finished and
  returns without touching it;
- Keras `BackupAndRestore` (as `worker.checkpoint.EpochBackup`, written atomically) keeps
  `<run>/checkpoint/` at every epoch end, so a run claimed again after a crash resumes from its
  last completed epoch;
- the attempt count caps how often a run that keeps killing its worker is retried.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import keras
import numpy as np
from billiard.exceptions import SoftTimeLimitExceeded

from shared.artifacts import CHECKPOINT_DIR
from shared.config import LayerInfo, RunConfig
from shared.datasets import DatasetUnavailable, describe, load_raw, to_model_input
from shared.run_states import IMPORTED
from shared.store import CANCELLED, FAILED, SUCCEEDED, RunStore
from worker import inputs, results
from worker import monitor as mon
from worker.checkpoint import EpochBackup
from worker.lease import Heartbeat, LeaseKeeper, claim_run
from worker.model import ModelMismatch, build_model, compile_model, layer_infos
from worker.model import steps_per_execution as choose_steps_per_execution

log = logging.getLogger(__name__)


def failure_message(exc: BaseException, store: RunStore) -> str:
    """A sentence for the user; the traceback goes to the worker log."""
    if isinstance(exc, DatasetUnavailable):
        return str(exc)
    if isinstance(exc, SoftTimeLimitExceeded):
        hours = store.settings.train_time_limit / 3600
        return (
            f"the training took longer than the time limit ({hours:g} h) and was stopped; "
            "use fewer epochs or a smaller train_limit"
        )
    if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":
        return (
            "the worker ran out of memory; try a smaller batch size, fewer filters or units, "
            "or a smaller train_limit"
        )
    if isinstance(exc, ModelMismatch):
        return f"the built model does not match its validated config ({exc}); please report this"
    if isinstance(exc, OSError):
        return (
            f"the worker could not read or write the run's files ({exc.strerror or exc}); "
            "check the data directory and its free space"
        )
    return (
        f"the training stopped on an unexpected error ({type(exc).__name__}); "
        "the worker log has the details"
    )


def train_run(
    store: RunStore, run_id: str, owner: str, callbacks: tuple[keras.callbacks.Callback, ...] = ()
) -> str | None:
    """Train `run_id` if this caller can claim it. Returns the final status, or None when there
    was nothing to do (already taken, finished or deleted) or the run was taken over.

    `callbacks` are appended after the checkpoint callback (tests use it to simulate a crash).
    """
    settings = store.settings
    if not claim_run(store, run_id, owner):
        log.info("run %s is not claimable (finished, running elsewhere or deleted)", run_id)
        return None
    run = store.get_run(run_id, with_history=False)
    if run is None:
        return None
    if run["attempts"] > settings.max_attempts:
        tries = run["attempts"] - 1
        return _finish(
            store,
            run_id,
            owner,
            FAILED,
            error=(
                f"the run was started {tries} times and its worker stopped each time before it "
                "finished; it will not be retried (the data or model may be too big for the worker)"
            ),
        )
    if run["cancel_requested"]:
        return _finish(store, run_id, owner, CANCELLED)
    heartbeat = Heartbeat(store, run_id, owner)
    try:
        with LeaseKeeper(heartbeat):
            if run.get("origin") == IMPORTED:  # a .keras upload: evaluated, not trained
                from worker.model_import import evaluate_import

                return evaluate_import(store, run, heartbeat)
            return _train(store, run, heartbeat, callbacks)
    except Exception as exc:
        if store.get_run(run_id, with_history=False) is None:
            log.info("run %s was deleted while training", run_id)
            store.files.remove_run(run_id)  # writes after the deletion may have re-made the folder
            return None
        status = _finish(store, run_id, owner, FAILED, error=failure_message(exc, store))
        if status is None:
            log.warning(
                "run %s stopped on an error after its lease was taken; its holder goes on",
                run_id,
                exc_info=True,
            )
        else:
            log.exception("run %s failed", run_id)
        return status


def _finish(
    store: RunStore,
    run_id: str,
    owner: str,
    status: str,
    error: str | None = None,
    **values: Any,
) -> str | None:
    """End the run in `status` if `owner` still holds its lease, then remove its checkpoint.

    The status is committed first: a kill between the two leaves a finished run with a stray
    checkpoint (never resumed: a finished run is never claimed), not a run that trains again
    from epoch 0 because its checkpoint is gone. A worker whose lease was taken (another
    delivery owns the run, a sweep marked it interrupted, or it was deleted) writes nothing,
    and leaves the checkpoint to whoever resumes from it. Returns the status, or None then.
    """
    if not store.finish(run_id, status, error=error, owner=owner, **values):
        log.warning(
            "run %s not marked %s: its lease is no longer %s's; left to its holder",
            run_id,
            status,
            owner,
        )
        return None
    store.files.remove(run_id, CHECKPOINT_DIR)
    log.info("run %s %s%s", run_id, status, f": {error}" if error else "")
    return status


def _train(
    store: RunStore,
    run: dict[str, Any],
    heartbeat: Heartbeat,
    extra_callbacks: tuple[keras.callbacks.Callback, ...],
) -> str | None:
    run_id = run["id"]
    config = RunConfig.model_validate(run["config"])
    infos = layer_infos(config)
    dataset = describe(config.dataset)
    if dataset is None:
        raise DatasetUnavailable(
            f"the dataset '{config.dataset}' is no longer on this machine (deleted?)"
        )

    x_train_raw, y_train_raw, x_test_raw, y_test = load_raw(config.dataset)
    if config.train_limit is not None:
        x_train_raw, y_train_raw = (
            x_train_raw[: config.train_limit],
            y_train_raw[: config.train_limit],
        )
    data = inputs.prepare(x_train_raw, y_train_raw, config.validation_split)
    n_train, n_val = data.n_train, data.n_val
    steps = math.ceil(n_train / config.batch_size)

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, infos)
    compile_model(model, config, choose_steps_per_execution(infos, config.batch_size))
    # Live progress (and mid-epoch cancel) needs a batch hook; CNNLENS_PROGRESS=0 leaves it out so
    # benchmarks can measure what it costs.
    monitor_class = mon.LiveRunMonitor if store.settings.progress else mon.RunMonitor
    monitor = monitor_class(
        store,
        heartbeat,
        attempt=run["attempts"],
        epochs=config.epochs,
        steps=steps,
        conv_layers=[info.name for info in infos if info.type == "conv2d"],
    )
    # Kept until _finish, after the results are safely written; never torn by a kill.
    backup = EpochBackup(store.run_dir(run_id) / CHECKPOINT_DIR)
    heartbeat.beat(epochs=config.epochs, steps=steps)
    # process_time: CPU seconds of every thread of this process (TensorFlow's and tf.data's too).
    fit_started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(
        **inputs.fit_arguments(data, config.batch_size, config.seed),
        epochs=config.epochs,
        verbose=0,
        callbacks=[monitor, backup, *extra_callbacks],
    )
    fit = results.FitTime(
        time.perf_counter() - fit_started,
        monitor.epochs_completed,
        time.process_time() - cpu_started,
    )

    stop = monitor.stop_reason or monitor.check_control()
    score = None
    if stop is None:
        score = _save_results(
            store,
            run_id,
            model,
            infos,
            config,
            dataset.classes,
            x_test_raw,
            y_test,
            n_train,
            n_val,
            fit,
        )
        stop = monitor.check_control()
        if stop == mon.CANCELLED:
            stop = None  # asked too late: every file is written, so the run counts as done
    if stop == mon.GONE:
        log.info("run %s was deleted while training", run_id)
        store.files.remove_run(run_id)
        return None
    if stop == mon.LOST:
        log.warning("run %s was taken over by another worker; leaving it to that one", run_id)
        return None
    if stop == mon.CANCELLED:
        return _finish(store, run_id, heartbeat.owner, CANCELLED)
    if stop == mon.DIVERGED:
        return _finish(
            store,
            run_id,
            heartbeat.owner,
            FAILED,
            error=(
                "the loss became NaN or infinite (training diverged); try a lower learning rate"
            ),
        )
    assert score is not None
    return _finish(
        store,
        run_id,
        heartbeat.owner,
        SUCCEEDED,
        test_loss=score.loss,
        test_accuracy=score.accuracy,
    )


def _save_results(
    store: RunStore,
    run_id: str,
    model: keras.Model,
    infos: list[LayerInfo],
    config: RunConfig,
    classes: tuple[str, ...],
    x_test_raw: np.ndarray,
    y_test: np.ndarray,
    n_train: int,
    n_val: int,
    fit: results.FitTime,
) -> results.TestScore:
    score = results.score_test_set(model, to_model_input(x_test_raw), y_test, len(classes))
    results.save_filters(store, run_id, model, infos)
    results.save_probe(store, run_id, model, x_test_raw, y_test, len(classes))
    epoch_seconds = [h["seconds"] for _, h in store.history_rows(run_id) if h["seconds"]]
    results.save_metrics(store, run_id, score, classes, n_train, n_val, epoch_seconds, fit)
    results.save_model(model, store.run_dir(run_id))
    log.info(
        "run %s: test accuracy %.4f, loss %.4f (%s)",
        run_id,
        score.accuracy,
        score.loss,
        config.dataset,
    )
    return score
