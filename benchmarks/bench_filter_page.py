"""A filter page's analysis, and the whole-test-set CKA with its intervals, for the default model.

The analysis job (worker/filter_analysis.py: top images, selectivity, ablation, flags, twins,
activation maximisation) and the CKA job (probe batch, then minibatch CKA over the test set with
bootstrap intervals) are called in this process, as the analysis worker would run them, with
TensorFlow's threads set as a worker sets them, on runs of the notebook's model trained here on
mnist-sample (two, so the filter has a twin to find). Cold: the first filter of a run (its model
is loaded for the first time); warm: another filter of the same run. Quick: one epoch on 500
images, to check the benchmark runs.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.rows import median, row

TARGET = "<= 10 s"


def job_error(store: Any, job_id: str) -> str:
    job = store.get_job(job_id)
    return "its row is gone" if job is None else str(job.get("error"))


def run(quick: bool) -> list[dict[str, Any]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from shared import comparison
    from shared.config import parse_config
    from shared.settings import Settings
    from shared.store import RunStore
    from worker.compare_jobs import cka_job
    from worker.extraction import ModelCache
    from worker.filter_analysis import filter_job
    from worker.training import train_run

    with tempfile.TemporaryDirectory(prefix="cnnlens-bench-filter-") as tmp:
        settings = Settings(
            _env_file=None,
            CNNLENS_DATA_DIR=tmp,
            DATABASE_URL=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            CNNLENS_PROGRESS="0",
        )
        tf.config.threading.set_intra_op_parallelism_threads(settings.tf_intra_threads)
        tf.config.threading.set_inter_op_parallelism_threads(settings.tf_inter_threads)
        store = RunStore(settings).init()
        extra = {"epochs": 1, "train_limit": 500} if quick else {}
        ids = []
        for seed in (0, 1):
            config, infos = parse_config({"name": f"default {seed}", "seed": seed, **extra})
            run_id = store.create_run(config, infos)["id"]
            if train_run(store, run_id, "bench") != "succeeded":
                raise RuntimeError(f"the benchmark's training failed: {store.get_run(run_id)}")
            ids.append(run_id)

        cache = ModelCache()
        timings: dict[str, list[float]] = {"cold": [], "warm": []}
        filters = [("conv2d_1", 0), ("conv2d_2", 7)] + ([] if quick else [("conv2d_2", 20)])
        cpu_seconds = []
        for i, (layer, k) in enumerate(filters):
            params = {"run_id": ids[0], "layer": layer, "k": k}
            job_id = store.create_job(comparison.FILTER_KIND, ids[0], params)
            started, cpu = time.perf_counter(), time.process_time()
            status = filter_job(store, job_id, cache)
            seconds = time.perf_counter() - started
            cpu_seconds.append(time.process_time() - cpu)
            if status != "succeeded":
                raise RuntimeError(f"the filter job failed: {job_error(store, job_id)}")
            timings["cold" if i == 0 else "warm"].append(seconds)

        job_id = store.create_job(comparison.CKA_KIND, ids[0], {"a": ids[0], "b": ids[1]})
        started, cpu = time.perf_counter(), time.process_time()
        if cka_job(store, job_id, cache) != "succeeded":
            raise RuntimeError(f"the CKA job failed: {job_error(store, job_id)}")
        cka_seconds, cka_cpu = time.perf_counter() - started, time.process_time() - cpu
        job = store.get_job(job_id)
        assert job is not None, "the CKA job's row is gone"
        result = job["result"]

    note = "quick: 1 epoch on 500 images" if quick else "3 epochs on 8,000 images"
    return [
        row(
            "filter page: analysis, first filter of a run",
            round(timings["cold"][0], 2),
            "s",
            target=TARGET,
            note=f"{note}; top images, selectivity, ablation on 2,000 test images, a twin, "
            f"activation maximisation; {cpu_seconds[0]:.1f} s of CPU",
        ),
        row(
            "filter page: analysis, another filter",
            round(median(timings["warm"]) or 0.0, 2),
            "s",
            target=TARGET,
        ),
        row(
            "CKA of two runs: probe batch, then whole test set with intervals",
            round(cka_seconds, 2),
            "s",
            note=f"{result['test_images']} test images in {result['batches']} minibatches; "
            f"{cka_cpu:.1f} s of CPU",
        ),
    ]
