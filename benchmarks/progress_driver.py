"""What live progress costs: the worker's own training (`worker.training.train_run`, its monitor,
checkpoints and results) with `CNNLENS_PROGRESS` on and off, alternated in one process so both
sides share the machine's ups and downs.

    python -m benchmarks.progress_driver --pairs 3 [--epochs 1] [--train-limit N]

Prints one JSON object: per setting, the fit images/s of every training in order; and, for the
trainings with progress, the share of fit time spent inside the progress hook, timed directly
(a figure the machine's other load barely moves, unlike the difference of two wall times).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=None)
    args = parser.parse_args()

    import tensorflow as tf

    from shared.config import parse_config
    from shared.settings import Settings

    defaults = Settings(_env_file=None)  # TensorFlow's threads as a training worker sets them
    tf.config.threading.set_intra_op_parallelism_threads(defaults.tf_intra_threads)
    tf.config.threading.set_inter_op_parallelism_threads(defaults.tf_inter_threads)
    from shared.store import SUCCEEDED, RunStore
    from worker import monitor
    from worker.training import train_run

    hook_seconds = [0.0]
    hook = monitor.LiveRunMonitor.on_train_batch_end

    def timed_hook(self, batch, logs=None):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            hook(self, batch, logs)
        finally:
            hook_seconds[0] += time.perf_counter() - started

    monitor.LiveRunMonitor.on_train_batch_end = timed_hook  # type: ignore[method-assign]

    folder = Path(tempfile.mkdtemp(prefix="cnnlens-progress-"))
    try:
        database = f"sqlite:///{folder / 'cnnlens.sqlite3'}"
        stores = {
            on: RunStore(
                Settings(
                    _env_file=None,
                    CNNLENS_DATA_DIR=str(folder),
                    DATABASE_URL=database,
                    CNNLENS_PROGRESS=on,
                )
            ).init()
            for on in (True, False)
        }
        config = {"dataset": "fashion_mnist", "epochs": args.epochs}
        if args.train_limit:
            config["train_limit"] = args.train_limit

        def train(on: bool, limit: int | None = None) -> float:
            store = stores[on]
            hook_seconds[0] = 0.0
            parsed, infos = parse_config(config | ({"train_limit": limit} if limit else {}))
            run_id = store.create_run(parsed, infos)["id"]
            status = train_run(store, run_id, f"bench/{os.getpid()}/{run_id}")
            if status != SUCCEEDED:
                raise RuntimeError(f"training ended {status}")
            metrics = json.loads((store.run_dir(run_id) / "metrics.json").read_text())
            if on:
                hook_share.append(hook_seconds[0] / metrics["fit_seconds"])
            images = metrics["train_images"] * metrics["fit_epochs"]
            per_cpu[on].append(images / metrics["fit_cpu_seconds"])
            return float(metrics["fit_images_per_second"])

        hook_share: list[float] = []
        per_cpu: dict[bool, list[float]] = {True: [], False: []}
        train(True, limit=500)  # first fit in the process: TensorFlow's one-time start-up
        hook_share.clear()
        per_cpu[True].clear()
        result: dict[str, list[float]] = {"on": [], "off": []}
        for n in range(args.pairs):
            order = (False, True) if n % 2 == 0 else (True, False)
            for on in order:
                result["on" if on else "off"].append(train(on))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        json.dumps(
            result | {"hook_share": hook_share, "on_cpu": per_cpu[True], "off_cpu": per_cpu[False]}
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
