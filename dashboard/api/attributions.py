"""POST /api/runs/{id}/attributions: which pixels of an input counted for a class, as a job.

It works like /activations: a body of `{"test_index": i}`, `{"image": [[...]]}` or
`{"image_data_url": ...}` (or a multipart upload in field `image`), plus `"method"`, an optional
`"target"` (a class number, "predicted" — the default — or "true" for a test image),
`"layer"` (Grad-CAM's conv layer, default the last), `"baseline"` (Integrated Gradients: black,
the default, blur or mean) and `"sanity_check"` (also run the method on re-initialised weights).
It answers 202 with a job, or 200 with the result when the run folder already holds it; the result
links an .npz with `input` and the raw `attribution`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request

from dashboard.api import uploads
from dashboard.api.activations import job_reply, parse_image, test_set_image
from dashboard.api.common import load_run, read_json_body, store
from dashboard.api.errors import ApiError, invalid
from dashboard.service import attributions
from shared.datasets import image_shape
from shared.store import SUCCEEDED

INPUTS = ("test_index", "image", uploads.DATA_URL_FIELD)
BODY_FIELDS = (*INPUTS, *attributions.FIELDS)
# A class number typed in a form: plain ASCII digits, a few of them (int() of "²" or of 5,000
# digits raises).
TARGET_TEXT = re.compile(r"-?[0-9]{1,12}")


def _form_settings() -> dict[str, Any]:
    """The settings of a multipart request, from its form fields (text, so numbers are parsed)."""
    unknown = sorted(set(request.form) - set(attributions.FIELDS))
    if unknown:
        raise invalid(unknown[0], "is not a known setting of an attribution")
    body: dict[str, Any] = {key: request.form[key] for key in request.form}
    target = body.get("target")
    if isinstance(target, str) and TARGET_TEXT.fullmatch(target.strip()):
        body["target"] = int(target.strip())  # anything else stays text, refused by validate
    if "sanity_check" in body:
        text = str(body["sanity_check"]).lower()
        if text not in ("true", "false", "1", "0"):
            raise invalid("sanity_check", "must be true or false")
        body["sanity_check"] = text in ("true", "1")
    return body


def _input_kind(body: dict[str, Any]) -> str:
    """Which one input the JSON body sends, or a 422."""
    given = [key for key in INPUTS if key in body]
    if len(given) != 1:
        raise invalid(
            "body",
            "send exactly one input: test_index (a test-set image), image (rows of whole "
            "numbers from 0 to 255, the run's image size) or image_data_url",
        )
    return given[0]


def _picture(run: dict[str, Any], body: dict[str, Any], kind: str) -> tuple[Any, bool]:
    """(uint8 image, whether it was a picture) of a JSON body's image or data URL."""
    shape = image_shape(run["dataset"])
    if kind == uploads.DATA_URL_FIELD:
        data_url = {uploads.DATA_URL_FIELD: body[uploads.DATA_URL_FIELD]}
        return uploads.data_url_image(data_url, shape), True
    return parse_image(body["image"], shape), False


def _settings(run: dict[str, Any], body: dict[str, Any], label: int | None) -> dict[str, Any]:
    try:
        return attributions.validate(run, body, label)
    except attributions.AttributionInvalid as exc:
        raise invalid(exc.field, str(exc)) from None


def request_attribution(run_id: str) -> Response:
    run = load_run(run_id, with_history=False)
    multipart = uploads.is_multipart()
    body = _form_settings() if multipart else read_json_body(empty=None)
    if run["status"] != SUCCEEDED:
        raise ApiError(409, f"the run has no trained model yet (it is {run['status']})")
    if not isinstance(body, dict):
        raise invalid("body", 'send a JSON object such as {"test_index": 0, "method": "saliency"}')
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        raise invalid(unknown[0], f"is not a known setting; send {', '.join(BODY_FIELDS)}")
    if "method" not in body:
        raise invalid("method", f"is required: one of {', '.join(attributions.METHODS)}")
    # The settings are checked before a picture is decoded (the cheap refusals first); a test
    # image is looked up first, as "target": "true" needs its label.
    if multipart:
        params = _settings(run, body, None)
        image, picture = uploads.uploaded_image(image_shape(run["dataset"])), True
    elif (kind := _input_kind(body)) == "test_index":
        image, label = test_set_image(run, body["test_index"])
        params, picture = _settings(run, body, label), False
    else:
        params = _settings(run, body, None)
        image, picture = _picture(run, body, kind)
    return job_reply(
        lambda: attributions.request_attribution(store(), run, image, params), image, picture
    )
