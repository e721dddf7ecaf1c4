"""POST /api/models: a `.keras` model trained elsewhere becomes a run (origin `imported`).

`multipart/form-data` with the file in the field `model`, the dataset's name or id in `dataset`
and an optional `name` (what `curl -F model=@model.keras -F dataset=mnist-sample` sends). The
answer is 202 with the new run (queued: its evaluation on the test set is a job of the training
queue; poll GET /api/runs/{id}), or a 4xx whose sentence names what was refused. The checks
themselves are `dashboard.service.model_import`'s; nothing of a refused file is kept.

An `Idempotency-Key` header works as on POST /api/runs: the same key with the same file, dataset
and name within 24 hours answers the first run (200, `"replayed": true`) and stores nothing; with
another file or form, a 422 on `Idempotency-Key`.
"""

from __future__ import annotations

from flask import Response, request, url_for

from dashboard.api.common import idempotency_key, json_response, store
from dashboard.api.errors import ApiError, invalid
from dashboard.api.runs import detailed, queue_full
from dashboard.service import model_import
from shared.housekeeping import QueueFull
from shared.idempotency import HEADER, IdempotencyConflict
from shared.keras_archive import MAX_FILE_BYTES

FILE_FIELD = "model"
FORM_FIELDS = {"dataset", "name"}


def import_model() -> Response:
    key = idempotency_key()  # a malformed key is a 422 before the file is read
    if request.mimetype != "multipart/form-data":
        raise ApiError(
            400,
            "send the model as multipart/form-data: the .keras file in the field 'model' and "
            "the dataset in 'dataset' (curl -F model=@model.keras -F dataset=mnist-sample)",
        )
    files = request.files.getlist(FILE_FIELD)  # parsing the form raises 413 past the body limit
    if len(files) != 1:
        extra = sorted(set(request.files) - {FILE_FIELD})
        hint = f" (it came as {extra[0]!r})" if extra else ""
        raise invalid(FILE_FIELD, f"send exactly one .keras file in the form field 'model'{hint}")
    unknown = sorted(set(request.form) - FORM_FIELDS)
    if unknown:
        raise invalid(unknown[0], "is not a field of a model import; send model, dataset, name")
    upload = files[0]
    data = upload.stream.read(MAX_FILE_BYTES + 1)
    try:
        run = model_import.import_model(
            store(),
            data,
            upload.filename or "",
            request.form.get("dataset", ""),
            request.form.get("name", ""),
            idempotency_key=key,
        )
    except IdempotencyConflict as exc:
        raise invalid(HEADER, str(exc)) from None
    except model_import.ImportRefused as exc:
        if exc.status == 413:
            raise ApiError(413, exc.message) from None
        raise invalid(exc.field, exc.message) from None
    except QueueFull as exc:
        raise queue_full(exc) from None
    # A replay is a 200 (nothing new was accepted), with the header POST /api/runs sends.
    replayed = bool(run.pop("replayed", False))
    headers = {"Location": url_for(".get_run", run_id=run["id"])}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(
        detailed(run) | {"replayed": replayed}, 200 if replayed else 202, headers=headers
    )
