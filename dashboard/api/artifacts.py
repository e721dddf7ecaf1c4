"""Downloads of a run's artifacts: stored files as they are, plus a few built on the fly.

Only the names below can be asked for: stored files by their fixed names, `metrics.csv` (from the
per-epoch history), `filters.npz` and `activations.npz` (the per-layer arrays bundled), and cached
extractions `activations/cache/<hash>.npz` and attributions `attributions/<key>.npz`. Everything
else — `..`, absolute paths, checkpoints, other files — is a 404, decided before any path is built.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import numpy as np
from flask import Response, send_file, url_for

from dashboard.api.common import load_run, shown, store
from dashboard.api.errors import ApiError
from shared.artifacts import CONFIG, FILTERS_DIR, HISTORY, METRICS, MODEL, PROBE_DIR
from shared.store import HISTORY_KEYS

STORED = {
    MODEL: "application/octet-stream",
    CONFIG: "application/json",
    HISTORY: "application/x-ndjson",
    METRICS: "application/json",
}
GENERATED = {
    "metrics.csv": "text/csv",
    "filters.npz": "application/octet-stream",
    "activations.npz": "application/octet-stream",
}
# Cached extractions, and attribution results (shared/attribution_result.py).
CACHED_RE = re.compile(r"^(activations/cache|attributions)/[0-9a-f]{32}\.npz$")
ARTIFACT_NAMES = (*STORED, *GENERATED)
# A filter page's activation-maximisation picture (analysis/filters/<layer>-<k>.png).
FILTER_PICTURE_RE = re.compile(r"^analysis/filters/[a-z0-9]+_[0-9]{1,3}-[0-9]{1,4}\.png$")


def _npy_names(run_id: str, folder: str) -> list[str]:
    return [n[:-4] for n in store().files.list(run_id, folder) if n.endswith(".npy")]


def _available(run_id: str, name: str) -> bool:
    files = store().files
    if name in STORED:
        return files.exists(run_id, name)
    if name == "metrics.csv":
        return bool(store().history_rows(run_id))
    if name == "filters.npz":
        return bool(_npy_names(run_id, FILTERS_DIR))
    if name == "activations.npz":
        return files.exists(run_id, f"{PROBE_DIR}/inputs.npy")
    return bool(CACHED_RE.match(name) or FILTER_PICTURE_RE.match(name)) and files.exists(
        run_id, name
    )


def available_artifacts(run: dict[str, Any]) -> list[dict[str, Any]]:
    """What can be downloaded for this run now: name, url and (for stored files) size.

    Cached extractions are not listed (a run may hold hundreds, and reading a run should not
    walk its cache); each extraction's answer names its own download.
    """
    run_id = run["id"]
    out = []
    for name in ARTIFACT_NAMES:
        if not _available(run_id, name):
            continue
        size = None
        if name in STORED or CACHED_RE.match(name):
            try:
                size = store().files.path(run_id, name).stat().st_size
            except OSError:
                continue
        url = url_for("cnnlens_api.download_artifact", run_id=run_id, name=name)
        out.append({"name": name, "url": url, "size": size})
    return out


def _metrics_csv(run_id: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("epoch", *HISTORY_KEYS))
    for epoch, values in store().history_rows(run_id):
        writer.writerow((epoch, *("" if values[k] is None else values[k] for k in HISTORY_KEYS)))
    return buf.getvalue().encode()


def _bundle(run_id: str, folder: str) -> bytes:
    """Every `<key>.npy` of a folder as one compressed .npz (keys = file names)."""
    files = store().files
    arrays: dict[str, Any] = {}
    for key in _npy_names(run_id, folder):
        array = files.load_array(run_id, f"{folder}/{key}.npy")
        if array is not None:
            arrays[key] = array
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def download_artifact(run_id: str, name: str) -> Response:
    load_run(run_id, with_history=False)
    known = name in ARTIFACT_NAMES or CACHED_RE.match(name) or FILTER_PICTURE_RE.match(name)
    if not known:
        raise ApiError(
            404,
            f"there is no artifact named {shown(name)}; downloads are: "
            f"{', '.join(ARTIFACT_NAMES)}, activations/cache/<hash>.npz and "
            "attributions/<key>.npz",
        )
    if not _available(run_id, name):
        raise ApiError(
            404, f"run {run_id} has no {name} (yet): it is written while or after the run trains"
        )
    download_name = f"{run_id[:8]}-{name.rsplit('/', 1)[-1]}"
    if name in GENERATED:
        if name == "metrics.csv":
            data = _metrics_csv(run_id)
        else:
            data = _bundle(run_id, FILTERS_DIR if name == "filters.npz" else PROBE_DIR)
        return send_file(
            io.BytesIO(data),
            mimetype=GENERATED[name],
            as_attachment=True,
            download_name=download_name,
            max_age=0,
        )
    path = store().files.path(run_id, name)  # validated again by Artifacts.path
    mimetype = STORED.get(
        name, "image/png" if name.endswith(".png") else "application/octet-stream"
    )
    try:
        return send_file(
            path, mimetype=mimetype, as_attachment=True, download_name=download_name, max_age=0
        )
    except FileNotFoundError:  # removed between the check and the read
        raise ApiError(404, f"run {run_id} has no {name} any more") from None
