"""/api/datasets: list, show, import (POST, multipart) and delete datasets.

`POST /api/datasets` takes a multipart form: the file in the field `file` (`.npz`, or `.zip` of
class folders), the dataset's `name`, and optionally `test_fraction` (a zip without train/ and
test/ folders is split by it, 0.2 by default). It answers 202 with the new dataset (status
`importing`) and its job, which an analysis worker runs; or a 4xx with a sentence, leaving nothing
behind. The upload may be larger than other requests: up to CNNLENS_DATASET_MAX_BYTES.
"""

from __future__ import annotations

from flask import Response, request, url_for

from dashboard.api.common import json_response, shown, store
from dashboard.api.errors import ApiError, invalid
from dashboard.service import datasets as service
from shared.queue import BrokerUnavailable

FILE_FIELD = "file"
FORM_FIELDS = {"name", "test_fraction"}


def _row(row: dict) -> dict:
    url = url_for(".get_dataset", dataset_id=row["id"])
    job = url_for(".get_job", job_id=row["job_id"]) if row.get("job_id") else None
    return row | {"url": url, "job_url": job}


def list_datasets() -> Response:
    return json_response({"datasets": [_row(row) for row in service.list_datasets(store())]})


def get_dataset(dataset_id: str) -> Response:
    row = service.get_dataset(store(), dataset_id)
    if row is None:
        raise ApiError(404, f"no dataset with id {shown(dataset_id)}")
    return json_response(_row(row))


def upload_limit() -> int:
    """The body POST /api/datasets may send: past the usual cap, up to CNNLENS_DATASET_MAX_BYTES
    (dashboard/serve.py gives waitress the larger of the two)."""
    settings = store().settings
    return max(settings.max_request_bytes, settings.dataset_max_bytes)


def create_dataset() -> Response:
    if request.mimetype != "multipart/form-data":
        raise ApiError(
            415,
            f"send a multipart/form-data form with the file in the field {FILE_FIELD!r} and a "
            "'name' (curl -F file=@data.zip -F name=...)",
        )
    request.max_content_length = upload_limit()
    files = request.files.getlist(FILE_FIELD)  # parsing the form raises 413 past the limit
    if len(files) != 1:
        extra = sorted(set(request.files) - {FILE_FIELD})
        hint = f" (it came as {extra[0]!r})" if extra else ""
        raise invalid(FILE_FIELD, f"send exactly one file in the form field {FILE_FIELD!r}{hint}")
    unknown = sorted(set(request.form) - FORM_FIELDS)
    if unknown:
        raise invalid(unknown[0], "is not a known field; send file, name and test_fraction")
    upload = files[0]
    try:
        row = service.start_import(
            store(),
            request.form.get("name"),
            upload.filename or "",
            upload.stream,
            request.form.get("test_fraction"),
        )
    except service.ImportRefused as exc:
        if exc.status == 422 and exc.field:
            raise invalid(exc.field, str(exc)) from None
        raise ApiError(exc.status, str(exc)) from None
    except BrokerUnavailable:
        raise ApiError(503, "the task queue is not reachable now; send the dataset again") from None
    body = _row(row)
    return json_response(body, 202, headers={"Location": body["url"]})


def delete_dataset(dataset_id: str) -> Response:
    try:
        deleted = service.delete_dataset(store(), dataset_id)
    except service.ImportRefused as exc:
        raise ApiError(exc.status, str(exc)) from None
    except service.DatasetInUse as exc:
        raise ApiError(409, str(exc)) from None
    if not deleted:
        raise ApiError(404, f"no dataset with id {shown(dataset_id)}")
    return json_response({"deleted": dataset_id})
