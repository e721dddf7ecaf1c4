"""One input through every chosen run, and where each run's answer comes from.

The input is described in the browser by a small dict: a test image ({"kind": "test", "dataset",
"index", "label"}) or a picture the user uploaded or drew ({"kind": "picture", "pixels"}: the
28×28 result of `shared.images`, zlib-compressed and base64url-encoded, a few hundred bytes).
Its `ref` ("test:42" or "px:<pixels>") goes into the page's URL, so a shared link shows the same
input, drawings included.

Per run, the answer comes from the run's probe set when the input is one of its probe images
(already stored, so no job), else from the extraction cache, else from an extraction job
(`source`). What the whole page waits for is dashboard/compare/page_status.py.
"""

from __future__ import annotations

import base64
import binascii
import math
import zlib
from typing import Any

import numpy as np

from dashboard.service import run_actions, run_data
from dashboard.ui.components import dataset_name, status_word
from dashboard.ui.i18n import t
from shared.artifacts import PROBE_DIR
from shared.datasets import DatasetUnavailable, image_shape
from shared.images import ImageRejected, decode_for_shape
from shared.numbers import DIGITS_RE, whole_number
from shared.queue import BrokerUnavailable
from shared.store import FAILED, SUCCEEDED, RunStore

SIDE = 28
PROBE_INDICES = f"{PROBE_DIR}/indices.npy"
MAX_PIXELS_TEXT = 2048  # characters of a `px:` reference: 784 bytes compress far below this


class InputRefused(ValueError):
    """The input cannot be used; the message says why."""


def queue_down() -> str:
    return t("compare.state.queue_down")


def other_dataset(run: dict[str, Any], shape: tuple[int, ...]) -> str:
    """Why an input of another dataset's shape does not go through this run."""
    want = image_shape(run["dataset"])
    return t(
        "compare.other_dataset",
        dataset=run["dataset"],
        want="×".join(str(v) for v in want),
        got="×".join(str(v) for v in shape),
    )


def not_trained(run: dict[str, Any]) -> str:
    return t("compare.state.not_trained", status=status_word(str(run["status"])))


# --- describing inputs -----------------------------------------------------------------------------


def test_input(dataset: str, index: Any) -> dict[str, Any]:
    number = whole_number(index, text=True)
    if number is None:
        raise InputRefused(t("compare.input.type_number"))
    try:
        _, label = run_actions.test_image(dataset, number)
    except (run_actions.InputError, DatasetUnavailable) as exc:
        raise InputRefused(str(exc)) from None
    index = number
    return {
        "kind": "test",
        "dataset": dataset,
        "index": index,
        "label": label,
        "ref": f"test:{index}",
    }


def _encode(image: np.ndarray) -> str:
    raw = zlib.compress(np.ascontiguousarray(image, dtype=np.uint8).tobytes(), 9)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _shape(value: Any) -> tuple[int, ...]:
    """A picture's shape as the browser sent it back: (h, w) or (h, w, 3), 8–128 a side, else
    MNIST's (the desc is the page's own, but anything from a browser is checked)."""
    if (
        isinstance(value, list | tuple)
        and len(value) in (2, 3)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and all(8 <= v <= 128 for v in value[:2])
        and (len(value) == 2 or value[2] == 3)
    ):
        return tuple(value)
    return (SIDE, SIDE)


def _decode(pixels: str, shape: tuple[int, ...] = (SIDE, SIDE)) -> np.ndarray | None:
    """The image of a `px:` reference, of `shape`, or None. It comes from a link anyone can
    write, so the text is capped and never inflated past one image (no zip bomb)."""
    size = math.prod(shape)
    if len(pixels) > max(MAX_PIXELS_TEXT, 4 * (size + size // 1000 + 64) // 3 + 4):
        return None
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(
            base64.urlsafe_b64decode(pixels + "=" * (-len(pixels) % 4)), size + 1
        )
    except (binascii.Error, ValueError, zlib.error):
        return None
    if len(raw) != size or inflate.unconsumed_tail:
        return None
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()


def picture_input(image: np.ndarray, how: str) -> dict[str, Any]:
    pixels = _encode(image)
    return {
        "kind": "picture",
        "how": how,
        "pixels": pixels,
        "shape": list(image.shape),
        "ref": f"px:{pixels}",
    }


def data_url_input(data_url: Any, how: str, dataset: str = "mnist-sample") -> dict[str, Any]:
    """An uploaded or drawn picture (a data URL), made an input of `dataset`'s shape (MNIST-style
    for the 28×28 grayscale datasets)."""
    try:
        return picture_input(decode_for_shape(data_url, image_shape(dataset)), how)
    except ImageRejected as exc:
        raise InputRefused(str(exc)) from None


def from_ref(ref: str | None, dataset: str) -> dict[str, Any] | None:
    """The input a URL names ("test:42" or "px:..."), or None when it names nothing usable."""
    kind, _, value = (ref if isinstance(ref, str) else "").partition(":")
    if kind == "test" and DIGITS_RE.fullmatch(value):
        try:
            return test_input(dataset, int(value))
        except InputRefused:
            return None
    if kind == "px":
        image = _decode(value, image_shape(dataset))
        return picture_input(image, "link") if image is not None else None
    return None


def default_input(store: RunStore, run: dict[str, Any]) -> dict[str, Any] | None:
    """The first probe image of the first run: stored for every run on its dataset, so instant."""
    indices = store.files.load_array(run["id"], PROBE_INDICES)
    index = int(indices[0]) if indices is not None and len(indices) else 0
    try:
        return test_input(run["dataset"], index)
    except InputRefused:
        return None


def fits(desc: dict[str, Any] | None, runs: list[dict[str, Any]]) -> bool:
    """Whether the input still belongs with these runs: a test image of a dataset one of them
    was trained on, or a picture of an input shape one of them takes. After the runs change (to
    runs on another dataset, say), an input that no longer fits gives way to the default one."""
    if not desc or not runs:
        return False
    if desc.get("kind") == "test":
        return desc.get("dataset") in {run["dataset"] for run in runs}
    return _shape(desc.get("shape")) in {image_shape(run["dataset"]) for run in runs}


def input_image(desc: dict[str, Any] | None) -> np.ndarray | None:
    if not desc:
        return None
    if desc.get("kind") == "test":
        try:
            return run_actions.test_image(str(desc["dataset"]), int(desc["index"]))[0]
        except (run_actions.InputError, DatasetUnavailable, KeyError, ValueError):
            return None
    return _decode(str(desc.get("pixels", "")), _shape(desc.get("shape")))


def describe(desc: dict[str, Any] | None, classes: tuple[str, ...] = ()) -> str:
    if not desc:
        return t("compare.describe.none")
    if desc.get("kind") == "test":
        label = whole_number(desc.get("label"), text=True)
        label = -1 if label is None else label
        name = classes[label] if 0 <= label < len(classes) else str(label)
        dataset = dataset_name(str(desc["dataset"]))
        return t("compare.describe.test", index=desc["index"], dataset=dataset, name=name)
    how = str(desc.get("how"))
    what = t(f"compare.describe.{how if how in ('upload', 'drawing') else 'link'}")
    return t("compare.describe.picture", how=what)


# --- where each run's answer comes from ------------------------------------------------------------


def _probe_index(store: RunStore, run: dict[str, Any], desc: dict[str, Any]) -> int | None:
    if desc.get("kind") != "test" or run["dataset"] != desc.get("dataset"):
        return None
    indices = store.files.load_array(run["id"], PROBE_INDICES)
    index = whole_number(desc.get("index"), text=True)
    if indices is None or index is None or not 0 <= index < 2**31:
        return None
    hits = np.flatnonzero(indices == index)
    return int(hits[0]) if hits.size else None


def source(
    store: RunStore, run: dict[str, Any], desc: dict[str, Any], image: np.ndarray, ask: bool
) -> dict[str, Any]:
    """{"probe": k} | {"digest": d} (ready) | {"pending": d} | {"error": sentence} for one run."""
    if run["status"] != SUCCEEDED:
        return {"error": not_trained(run)}
    if image.shape != image_shape(run["dataset"]):
        return {"error": other_dataset(run, image.shape)}
    probe = _probe_index(store, run, desc)
    if probe is not None:
        return {"probe": probe}
    digest = run_actions.input_hash(image)
    if store.files.exists(run["id"], run_actions.cache_rel(digest)):
        return {"digest": digest}
    if ask:
        try:
            answer = run_actions.request_activations(store, run["id"], image)
        except BrokerUnavailable:
            return {"error": queue_down()}
        return {"digest": digest} if answer["status"] == "cached" else {"pending": digest}
    job = store.get_job(run_actions.extraction_job_id(run["id"], digest))
    if job is not None and job["status"] == FAILED:
        return {"error": job.get("error") or t("compare.state.extraction_failed")}
    return {"pending": digest}


# --- reading a run's answer ------------------------------------------------------------------------


def _selection(src: dict[str, Any]) -> Any:
    if "probe" in src:
        return int(src["probe"])
    if "digest" in src:
        return {"digest": src["digest"]}
    return None


def probabilities(store: RunStore, run: dict[str, Any], src: dict[str, Any]) -> np.ndarray | None:
    selection = _selection(src)
    if selection is None:
        return None
    probe = run_data.load_probe(store, run["id"]) if isinstance(selection, int) else None
    probs, _ = run_data.selected_prediction(store, run["id"], selection, probe)
    return None if probs is None else np.asarray(probs, dtype=np.float32)


def activation(
    store: RunStore, run: dict[str, Any], src: dict[str, Any], layer: str
) -> np.ndarray | None:
    selection = _selection(src)
    if selection is None:
        return None
    return run_data.selected_activation(store, run["id"], selection, layer)
