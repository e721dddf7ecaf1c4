"""The operations on one trained run: its filters, probe activations, an imported model, activations
and attributions of an uploaded picture, and its files (see dashboard/api/operations/__init__.py)."""

from __future__ import annotations

from dashboard.api.common import JSON_MIMETYPE
from dashboard.api.models import (
    ActivationRequest,
    ActivationsCached,
    ActivationUpload,
    FilterList,
    FilterValues,
    JobQueued,
    ProbeActivations,
    RunCreated,
    ValidationErrors,
)
from dashboard.api.models_attribution import (
    METHODS_TEXT,
    AttributionCached,
    AttributionRequest,
    AttributionUpload,
)
from dashboard.api.models_import import ModelUpload
from dashboard.api.operations.base import (
    ARTIFACT_TYPES,
    BAD_BODY,
    INVALID,
    JOB_LINKS,
    JOB_LOCATION,
    NO_RUN,
    QUEUE_FULL,
    REPLAYED,
    RETRY_AFTER,
    RUN_LINKS,
    RUN_LOCATION,
    TOO_LARGE,
    Operation,
    Reply,
)
from dashboard.api.params import (
    ArtifactPath,
    EpochQuery,
    IdempotencyHeader,
    LayerPath,
    ProbePath,
    ProbeQuery,
    RunPath,
)
from shared.images import MAX_BYTES

OPERATIONS: dict[str, Operation] = {
    "list_filters": Operation(
        "listFilters",
        "The run's conv layers.",
        {
            200: Reply(
                "Conv layers with kernel shapes and whether their learned filters are stored yet.",
                FilterList,
            ),
            404: NO_RUN,
        },
        params=(RunPath,),
    ),
    "get_filter": Operation(
        "getFilter",
        "One conv layer's kernel.",
        {
            200: Reply(
                "The kernel, shape (kh, kw, cin, cout), values rounded to 6 digits.", FilterValues
            ),
            404: Reply("No such run, or no conv layer of that name (the message lists them)."),
            409: Reply("The filters are not stored yet: the run has not finished training."),
            422: INVALID,
        },
        params=(RunPath, LayerPath, EpochQuery),
    ),
    "get_probe": Operation(
        "getProbeActivations",
        "Every layer's activations for probe image k.",
        {
            200: Reply(
                "Input, label, class probabilities and each layer's activations (rounded to 4 "
                "digits).",
                ProbeActivations,
            ),
            404: Reply(
                "No such run, k is out of range (the message gives it), or the run has no layer "
                "of that name (the message lists them)."
            ),
            409: Reply("The run has no probe activations yet."),
        },
        params=(RunPath, ProbePath, ProbeQuery),
    ),
    "import_model": Operation(
        "importModel",
        "Import a .keras model trained elsewhere as a run, evaluated on the test set.",
        {
            202: Reply(
                "The model is accepted: a run with origin `imported` is queued, and a training "
                "worker loads the weights into the architecture CNN Lens builds and evaluates it "
                "(poll /api/runs/{id}: it reaches `succeeded`, or `failed` with a sentence when "
                "the weights do not fit). When the task queue is down it stays queued, with a "
                "`warning`.",
                RunCreated,
                headers=RUN_LOCATION,
                links=RUN_LINKS,
            ),
            200: Reply(
                "The Idempotency-Key was used by an earlier import of the same file, dataset and "
                "name: its run, with `replayed: true`; nothing new is stored or queued.",
                RunCreated,
                headers=RUN_LOCATION | REPLAYED,
                links=RUN_LINKS,
            ),
            400: Reply("The body is not multipart/form-data."),
            413: Reply(
                "The body is over the size limit, or the archive or its weights are larger than "
                "the model they describe needs (a zip bomb, padded weights)."
            ),
            422: Reply(
                "The file was refused (field `model`: not a .keras zip, an .h5 or pickle, a "
                "Lambda, custom object, branch or unsupported layer or option, an input or output "
                "that does not fit the dataset), or `dataset` or `name` is invalid, or the "
                "Idempotency-Key is malformed or was used for another request (field "
                "`Idempotency-Key`); one sentence names what was refused and nothing is kept.",
                ValidationErrors,
            ),
            429: QUEUE_FULL,
        },
        params=(IdempotencyHeader,),
        body={"multipart/form-data": ModelUpload},
    ),
    "request_activations": Operation(
        "requestActivations",
        "Every layer's activations for a chosen input.",
        {
            200: Reply("Already extracted: the result.", ActivationsCached),
            202: Reply(
                "An extraction job is queued; poll /api/jobs/{job_id}.",
                JobQueued,
                headers=JOB_LOCATION,
                links=JOB_LINKS,
            ),
            400: BAD_BODY,
            404: NO_RUN,
            409: Reply(
                "The run has no trained model yet, or its test images are not on this machine."
            ),
            413: TOO_LARGE,
            422: INVALID,
            503: Reply(
                "The task queue is not reachable, or the picture decoder is busy with other "
                "pictures (then with Retry-After); try again.",
                headers=RETRY_AFTER,
            ),
        },
        params=(RunPath,),
        body={JSON_MIMETYPE: ActivationRequest, "multipart/form-data": ActivationUpload},
        description="A picture (a file upload or a data URL) is converted to a 28×28 "
        "white-on-black input like MNIST's; the answer's `input_png` shows it. Pictures over "
        f"{MAX_BYTES // 2**20} MB are refused with a 413, unreadable ones with a 422 saying why.",
    ),
    "request_attribution": Operation(
        "requestAttribution",
        "Which pixels of an input counted for a class of the model's answer.",
        {
            200: Reply("Computed before: the result and its .npz download.", AttributionCached),
            202: Reply(
                "An attribution job is queued on the extraction queue; poll /api/jobs/{job_id}, "
                "whose result is the answer.",
                JobQueued,
                headers=JOB_LOCATION,
                links=JOB_LINKS,
            ),
            400: BAD_BODY,
            404: NO_RUN,
            409: Reply(
                "The run has no trained model yet, or its test images are not on this machine."
            ),
            413: TOO_LARGE,
            422: Reply(
                "Invalid input, or an unknown method, layer, class or baseline: one message per "
                "field, naming it.",
                ValidationErrors,
            ),
            503: Reply(
                "The task queue is not reachable, or the picture decoder is busy with other "
                "pictures (then with Retry-After); try again.",
                headers=RETRY_AFTER,
            ),
        },
        params=(RunPath,),
        body={JSON_MIMETYPE: AttributionRequest, "multipart/form-data": AttributionUpload},
        description=f"Methods: {METHODS_TEXT}. The .npz holds `input` (uint8, the input's height "
        "and width) and `attribution` (float32, the same height and width): the raw per-pixel "
        "attribution summed over the input's channels, not normalised, so Integrated Gradients' "
        "completeness can be checked on it: its sum is the target class's probability at the "
        "input minus at the baseline (black by default), within 1 %. With `sanity_check`, "
        "`randomised` holds the same method's map on re-initialised weights and the result's "
        "`sanity` says how alike the two are. A picture is converted like /activations does.",
    ),
    "download_artifact": Operation(
        "downloadArtifact",
        "Download a run's file.",
        {
            200: Reply(
                "The file, as an attachment.",
                None,
                headers={"Content-Disposition": {"schema": {"type": "string"}}},
                media=ARTIFACT_TYPES,
            ),
            404: Reply("No such run, no such artifact name, or not written yet."),
        },
        params=(RunPath, ArtifactPath),
        description="Anything else — '..', absolute paths, other files — is a 404.",
    ),
}
