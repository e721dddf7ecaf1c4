"""What live progress costs: the worker's own training (`worker.training.train_run`, its monitor,
checkpoints and results) with `CNNLENS_PROGRESS` on and off, alternated in one process so both
sides share the machine's ups and downs.

    python -m benchmarks.progress_driver --pairs 3 [--epochs 1] [--train-limit N]

Prints one JSON object with the fit images/s of every training, in order, per setting.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=None)
    args = parser.parse_args()

    from shared.config import parse_config
    from shared.settings import Settings
    from shared.store import SUCCEEDED, RunStore
    from worker.training import train_run

    folder = Path(tempfile.mkdtemp(prefix="cnnlens-progress-"))
    try:
        base = {
            "CNNLENS_DATA_DIR": str(folder),
            "DATABASE_URL": f"sqlite:///{folder / 'cnnlens.sqlite3'}",
        }
        stores = {
            on: RunStore(Settings(_env_file=None, **base, CNNLENS_PROGRESS=on)).init()
            for on in (True, False)
        }
        config = {"dataset": "fashion_mnist", "epochs": args.epochs}
        if args.train_limit:
            config["train_limit"] = args.train_limit

        def train(on: bool, limit: int | None = None) -> float:
            store = stores[on]
            parsed, infos = parse_config(config | ({"train_limit": limit} if limit else {}))
            run_id = store.create_run(parsed, infos)["id"]
            status = train_run(store, run_id, f"bench/{os.getpid()}/{run_id}")
            if status != SUCCEEDED:
                raise RuntimeError(f"training ended {status}")
            metrics = json.loads((store.run_dir(run_id) / "metrics.json").read_text())
            return float(metrics["fit_images_per_second"])

        train(True, limit=500)  # first fit in the process: TensorFlow's one-time start-up
        result: dict[str, list[float]] = {"on": [], "off": []}
        for n in range(args.pairs):
            order = (False, True) if n % 2 == 0 else (True, False)
            for on in order:
                result["on" if on else "off"].append(train(on))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
