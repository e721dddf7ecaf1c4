"""API views that read a run's arrays: conv filters, probe activations, and activation requests.

Arrays go out as nested lists of floats rounded to a few digits (filters 6, activations 4); NaN or
infinite values, which a diverged training can produce, go out as null.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from flask import Response, request, url_for

from dashboard.api import uploads
from dashboard.api.common import (
    json_response,
    load_run,
    nested,
    parse_index,
    query_int,
    read_json_body,
    shown,
    store,
)
from dashboard.api.errors import ApiError, invalid
from dashboard.api.models import IMAGE_SIDE
from dashboard.api.runs import run_layers
from dashboard.service import run_actions
from shared.artifacts import FILTERS_DIR, PROBE_DIR
from shared.config import MAX_EPOCHS
from shared.datasets import DatasetUnavailable, class_names, image_shape
from shared.numbers import whole_number
from shared.queue import BrokerUnavailable
from shared.run_states import IMPORTED
from shared.store import SUCCEEDED

FILTER_DIGITS = 6
ACTIVATION_DIGITS = 4


def _conv_layers(run: dict[str, Any]) -> list[Any]:
    return [info for info in run_layers(run) if info.type == "conv2d"]


def list_filters(run_id: str) -> Response:
    run = load_run(run_id, with_history=False)
    files = store().files
    layers = [
        {
            "name": info.name,
            "kernel_shape": list(info.kernel_shape or ()),
            "available": files.exists(run_id, f"{FILTERS_DIR}/{info.name}.npy"),
            "epochs_available": files.exists(run_id, f"{FILTERS_DIR}/epochs/{info.name}.npy"),
        }
        for info in _conv_layers(run)
    ]
    return json_response({"run_id": run_id, "layers": layers})


def get_filter(run_id: str, layer: str) -> Response:
    run = load_run(run_id, with_history=False)
    names = [info.name for info in _conv_layers(run)]
    if layer not in names:
        raise ApiError(
            404,
            f"run {run_id} has no conv layer {shown(layer)}; its conv layers "
            f"are: {', '.join(names)}",
        )
    epoch = query_int("epoch", 0, MAX_EPOCHS)
    files = store().files
    if epoch is None:
        kernel = files.load_array(run_id, f"{FILTERS_DIR}/{layer}.npy")
    elif run.get("origin") == IMPORTED:
        raise ApiError(
            404,
            f"run {run_id} was imported from a .keras file: it has its final filters only, "
            "with no history per epoch; ask without ?epoch=",
        )
    else:
        stack = files.load_array(run_id, f"{FILTERS_DIR}/epochs/{layer}.npy", mmap=True)
        if stack is not None and epoch >= stack.shape[0]:
            raise ApiError(
                404,
                f"no filters after epoch {epoch}: this run has them for epochs "
                f"0 to {stack.shape[0] - 1}",
            )
        kernel = None if stack is None else np.asarray(stack[epoch])
    if kernel is None:
        raise ApiError(
            409,
            f"the filters of {layer} are not stored yet; they are written when "
            "the run finishes training",
        )
    return json_response(
        {
            "run_id": run_id,
            "layer": layer,
            "epoch": epoch,
            "shape": list(kernel.shape),
            "values": nested(kernel, FILTER_DIGITS),
        }
    )


def _probe_layers(run: dict[str, Any], layer: str | None) -> list[Any]:
    """Every layer, or only the one `?layer=` names (a model's answer can be megabytes)."""
    infos = run_layers(run)
    if layer is None:
        return infos
    chosen = [info for info in infos if info.name == layer]
    if not chosen:
        names = ", ".join(info.name for info in infos)
        raise ApiError(404, f"run {run['id']} has no layer {shown(layer)}; its layers are: {names}")
    return chosen


def get_probe(run_id: str, k: str) -> Response:
    run = load_run(run_id, with_history=False)
    files = store().files
    labels = files.load_array(run_id, f"{PROBE_DIR}/labels.npy")
    if labels is None:
        raise ApiError(
            409,
            "the run has no probe activations yet; they are written when the run finishes training",
        )
    index = parse_index(k, "probe image", len(labels))
    indices = files.load_array(run_id, f"{PROBE_DIR}/indices.npy")
    inputs = files.load_array(run_id, f"{PROBE_DIR}/inputs.npy", mmap=True)
    predictions = files.load_array(run_id, f"{PROBE_DIR}/predictions.npy", mmap=True)
    layers = []
    for info in _probe_layers(run, request.args.get("layer")):
        array = files.load_array(run_id, f"{PROBE_DIR}/{info.name}.npy", mmap=True)
        if array is None or index >= array.shape[0]:
            continue
        values = np.asarray(array[index], dtype=np.float32)
        layers.append(
            {
                "name": info.name,
                "type": info.type,
                "shape": list(values.shape),
                "values": nested(values, ACTIVATION_DIGITS),
            }
        )
    label = int(labels[index])
    classes = class_names(run["dataset"])
    probabilities = None if predictions is None else nested(predictions[index], 6)
    return json_response(
        {
            "run_id": run_id,
            "index": index,
            "count": len(labels),
            "label": label,
            "class_name": classes[label] if 0 <= label < len(classes) else str(label),
            "test_index": None if indices is None else int(indices[index]),
            "input": None if inputs is None else np.asarray(inputs[index]).astype(int).tolist(),
            "probabilities": probabilities,
            "predicted": None if predictions is None else int(np.argmax(predictions[index])),
            "layers": layers,
        }
    )


def _pixel(cell: Any, where: str) -> None:
    if isinstance(cell, float) and not math.isfinite(cell):
        raise invalid(where, "must be a finite number, not NaN or infinity")
    if whole_number(cell) is None or not 0 <= cell <= 255:
        raise invalid(where, "must be a whole number from 0 to 255")


def parse_image(value: Any, shape: tuple[int, ...] = (IMAGE_SIDE, IMAGE_SIDE)) -> np.ndarray:
    """A grid of whole numbers 0–255 of the run's image shape ((h, w) rows of numbers, or
    (h, w, 3) rows of [r, g, b]) as uint8, or a 422 saying what is wrong with it."""
    height, width = shape[:2]
    colour = len(shape) == 3
    what = "[r, g, b] triples" if colour else "whole numbers"
    shape_msg = f"must be {height} rows of {width} {what} from 0 to 255"
    if not isinstance(value, list) or len(value) != height:
        raise invalid(
            "image", f"{shape_msg}; got {len(value) if isinstance(value, list) else 0} rows"
        )
    for r, row in enumerate(value):
        if not isinstance(row, list) or len(row) != width:
            raise invalid(f"image.{r}", f"each row must be a list of {width} {what}")
        for c, cell in enumerate(row):
            if not colour:
                _pixel(cell, f"image.{r}.{c}")
                continue
            if not isinstance(cell, list) or len(cell) != 3:
                raise invalid(f"image.{r}.{c}", "must be a list of 3 numbers: red, green, blue")
            for k, part in enumerate(cell):
                _pixel(part, f"image.{r}.{c}.{k}")
    return np.asarray(value, dtype=np.float64).astype(np.uint8)


def _requested_image(run: dict[str, Any], body: Any) -> np.ndarray:
    if not isinstance(body, dict):
        raise invalid("body", 'send a JSON object: {"test_index": i} or {"image": [[...]]}')
    unknown = sorted(set(body) - {"test_index", "image"})
    if unknown:
        raise invalid(
            unknown[0], "is not a known setting; send test_index, image or image_data_url"
        )
    if ("test_index" in body) == ("image" in body):
        raise invalid(
            "body",
            "send exactly one of test_index (a test-set image) or image "
            "(28 rows of 28 numbers from 0 to 255)",
        )
    if "image" in body:
        return parse_image(body["image"], image_shape(run["dataset"]))
    image, _label = test_set_image(run, body["test_index"])
    return image


def test_set_image(run: dict[str, Any], index: Any) -> tuple[np.ndarray, int]:
    """The run's dataset's test image `index` and its label, or a 422 (bad index) or 409 (the
    dataset's files are not on this machine) that says so. Attributions use it too."""
    number = whole_number(index)
    if number is None or number < 0:
        raise invalid("test_index", "must be a whole number, 0 or more")
    try:
        return run_actions.test_image(run["dataset"], number)
    except run_actions.InputError as exc:
        raise invalid("test_index", str(exc)) from None
    except DatasetUnavailable as exc:
        raise ApiError(
            409,
            f"the test images of {run['dataset']} are not on this machine "
            f"({exc}); send an image instead",
        ) from None


def request_activations(run_id: str) -> Response:
    run = load_run(run_id, with_history=False)
    multipart = uploads.is_multipart()
    body = None if multipart else read_json_body(empty=None)
    if run["status"] != SUCCEEDED:
        raise ApiError(409, f"the run has no trained model yet (it is {run['status']})")
    # A picture (uploaded file or data URL) is converted; the answer shows what the model got.
    picture = True
    shape = image_shape(run["dataset"])
    if multipart:
        image = uploads.uploaded_image(shape)
    elif isinstance(body, dict) and uploads.DATA_URL_FIELD in body:
        image = uploads.data_url_image(body, shape)
    elif body is None:
        raise invalid("body", 'send {"test_index": i} or {"image": [[...]]}')
    else:
        image, picture = _requested_image(run, body), False
    return job_reply(
        lambda: run_actions.request_activations(store(), run_id, image), image, picture
    )


def job_reply(ask: Callable[[], dict[str, Any]], image: np.ndarray, picture: bool) -> Response:
    """The answer to a POST that asks a worker about one image (`ask` asks): 200 with the result
    when it is already stored, else 202 with the job and its address (Location); with the
    picture's preview when the image came from a picture. Shared with attributions."""
    try:
        answer = ask()
    except run_actions.InputError as exc:
        raise invalid("image", str(exc)) from None
    except BrokerUnavailable:
        raise ApiError(503, "the task queue is not reachable now; try again in a moment") from None
    if picture:
        answer["input_png"] = uploads.preview(image)
    if answer["status"] == "cached":
        return json_response(answer, 200)
    job_url = url_for(".get_job", job_id=answer["job_id"])
    return json_response(answer | {"job_url": job_url}, 202, headers={"Location": job_url})
