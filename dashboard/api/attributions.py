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

from typing import Any

from flask import Response, request, url_for

from dashboard.api import uploads
from dashboard.api.activations import parse_image, test_set_image
from dashboard.api.common import json_response, load_run, read_json_body, store
from dashboard.api.errors import ApiError, invalid
from dashboard.service import attributions, run_actions
from shared.datasets import image_shape
from shared.queue import BrokerUnavailable
from shared.store import SUCCEEDED

INPUTS = ("test_index", "image", uploads.DATA_URL_FIELD)
BODY_FIELDS = (*INPUTS, *attributions.FIELDS)


def _form_settings() -> dict[str, Any]:
    """The settings of a multipart request, from its form fields (text, so numbers are parsed)."""
    unknown = sorted(set(request.form) - set(attributions.FIELDS))
    if unknown:
        raise invalid(unknown[0], "is not a known setting of an attribution")
    body: dict[str, Any] = {key: request.form[key] for key in request.form}
    target = body.get("target")
    if isinstance(target, str) and target.strip().lstrip("-").isdigit():
        body["target"] = int(target)
    if "sanity_check" in body:
        text = str(body["sanity_check"]).lower()
        if text not in ("true", "false", "1", "0"):
            raise invalid("sanity_check", "must be true or false")
        body["sanity_check"] = text in ("true", "1")
    return body


def _image(run: dict[str, Any], body: dict[str, Any]) -> tuple[Any, int | None, bool]:
    """(uint8 image, its label when it is a test image, whether it was a picture)."""
    given = [key for key in INPUTS if key in body]
    if len(given) != 1:
        raise invalid(
            "body",
            "send exactly one input: test_index (a test-set image), image (28 rows of 28 "
            "numbers from 0 to 255) or image_data_url",
        )
    shape = image_shape(run["dataset"])
    if given[0] == uploads.DATA_URL_FIELD:
        data_url = {uploads.DATA_URL_FIELD: body[uploads.DATA_URL_FIELD]}
        return uploads.data_url_image(data_url, shape), None, True
    if given[0] == "image":
        return parse_image(body["image"], shape), None, False
    image, label = test_set_image(run, body["test_index"])
    return image, label, False


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
    if multipart:
        image, label, picture = uploads.uploaded_image(image_shape(run["dataset"])), None, True
    else:
        image, label, picture = _image(run, body)
    try:
        params = attributions.validate(run, body, label)
        answer = attributions.request_attribution(store(), run, image, params)
    except attributions.AttributionInvalid as exc:
        raise invalid(exc.field, str(exc)) from None
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
