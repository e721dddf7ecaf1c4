"""Pictures sent to POST /api/runs/{id}/activations: a file upload or a data URL, made the input
of the run's dataset (MNIST-style for the 28×28 grayscale datasets).

Two forms besides the JSON grid of `api/activations`: `multipart/form-data` with the picture in the
field `image` (what `curl -F image=@digit.png` sends), or JSON `{"image_data_url": "data:image/png;
base64,..."}` (what a browser canvas gives). Either is converted by `shared.images` to the input
the model knows (28×28 white on black for the digit and clothing datasets, the dataset's size and
channels for the others), and the answer carries that converted picture, so the user
sees what the model got. A picture over the upload limit is a 413; any other refusal is a 422 whose
message is `shared.images`' sentence.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from flask import request

from dashboard.api.errors import ApiError, invalid
from shared.images import (
    MAX_BYTES,
    DecoderBusy,
    ImageRejected,
    decode_for_shape,
    to_png_bytes,
)

MNIST_SHAPE = (28, 28)

FIELD = "image"
DATA_URL_FIELD = "image_data_url"
PREVIEW_SCALE = 1
BUSY_RETRY_AFTER = 5  # seconds


def is_multipart() -> bool:
    return request.mimetype == "multipart/form-data"


def _refused(exc: ImageRejected, size: int) -> ApiError:
    if isinstance(exc, DecoderBusy):  # other pictures hold every decode slot: not this one's fault
        return ApiError(503, str(exc), headers={"Retry-After": str(BUSY_RETRY_AFTER)})
    if size > MAX_BYTES:
        return ApiError(413, str(exc))
    return invalid(FIELD, str(exc))


def uploaded_image(shape: tuple[int, ...] = MNIST_SHAPE) -> np.ndarray:
    """The picture of a multipart request's `image` field as a uint8 array of `shape`."""
    files = request.files.getlist(FIELD)  # parsing the form raises 413 past the body limit
    if len(files) != 1:
        extra = sorted(set(request.files) - {FIELD})
        hint = f" (it came as {extra[0]!r})" if extra else ""
        raise invalid(FIELD, f"send exactly one picture in the form field {FIELD!r}{hint}")
    data = files[0].stream.read()  # bounded by the request body limit; its size is in the answer
    try:
        return decode_for_shape(data, shape)
    except ImageRejected as exc:
        raise _refused(exc, len(data)) from None


def data_url_image(body: dict[str, Any], shape: tuple[int, ...] = MNIST_SHAPE) -> np.ndarray:
    """The picture of a JSON body's `image_data_url` as a uint8 array of `shape`."""
    unknown = sorted(set(body) - {DATA_URL_FIELD})
    if unknown:
        raise invalid(unknown[0], f"cannot be sent with {DATA_URL_FIELD}")
    text = body[DATA_URL_FIELD]
    if not isinstance(text, str):
        raise invalid(DATA_URL_FIELD, "must be a data URL string (data:image/png;base64,...)")
    payload = text.split(",", 1)[-1]
    try:
        return decode_for_shape(text, shape)
    except ImageRejected as exc:
        raise _refused(exc, len(payload) * 3 // 4) from None


def preview(image: np.ndarray) -> str:
    """The converted input as a PNG data URL."""
    png = to_png_bytes(np.asarray(image, dtype=np.uint8), scale=PREVIEW_SCALE)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
