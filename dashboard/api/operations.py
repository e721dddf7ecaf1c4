"""What each route of `routes.ROUTES` takes and answers, for the OpenAPI document: one table.

`OPERATIONS` is keyed by the route's endpoint name; `openapi.build_openapi` walks the route table
and looks every route up here (a route without an entry, or an entry without a route, is an
error). Bodies are the models of `models.py` and `models_compare.py`, parameters those of
`params.py`. `replies(operation, method)` adds what every request can get: the guard's refusals
(dashboard/api/guard.py) and a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from dashboard.api import artifacts, guard
from dashboard.api.common import JSON_MIMETYPE
from dashboard.api.models import (
    ActivationRequest,
    ActivationsCached,
    ActivationUpload,
    CancelAnswer,
    Error,
    FilterList,
    FilterValues,
    Health,
    Job,
    JobQueued,
    NotAllowed,
    OpenApiDocument,
    ProbeActivations,
    RunCreated,
    RunDetail,
    RunList,
    RunPatch,
    ValidationErrors,
)
from dashboard.api.models_attribution import (
    METHODS_TEXT,
    AttributionCached,
    AttributionRequest,
    AttributionUpload,
)
from dashboard.api.models_compare import CkaCached, CkaQueued, FilterAlignment, FilterStatsCached
from dashboard.api.models_datasets import (
    Dataset,
    DatasetDeleted,
    DatasetList,
    DatasetPath,
    DatasetUpload,
)
from dashboard.api.models_filters import (
    AblationCached,
    EpochCkaCached,
    FilterAnalysisCached,
    FilterIndexPath,
)
from dashboard.api.models_import import ModelUpload
from dashboard.api.params import (
    AblationQuery,
    ArtifactPath,
    CompareEpochQuery,
    CompareFiltersQuery,
    EpochQuery,
    IdempotencyHeader,
    JobPath,
    LayerPath,
    PairQuery,
    Params,
    ProbePath,
    ProbeQuery,
    RunListQuery,
    RunPath,
)
from shared.comparison import PROBE_BATCH
from shared.config import RunConfig
from shared.images import MAX_BYTES


@dataclass(frozen=True)
class Reply:
    """One status of an operation: what it means, and its body (None: no body)."""

    description: str
    model: type[BaseModel] | None = Error
    headers: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, Any] = field(default_factory=dict)
    media: tuple[str, ...] = (JSON_MIMETYPE,)  # without a model: files of these types


@dataclass(frozen=True)
class Operation:
    op_id: str
    summary: str
    replies: Mapping[int, Reply]
    params: tuple[type[Params], ...] = ()
    body: Mapping[str, type[BaseModel]] = field(default_factory=dict)  # media type -> model
    body_required: bool = True
    body_description: str = ""
    description: str = ""
    # GET /api/health: answered for any host name and without the login (health checks).
    health_check: bool = False


def _links(parameter: str, pointer: str, *operations: str) -> dict[str, Any]:
    """OpenAPI links from an answer's body to the operations that take `parameter` from it."""
    return {
        op[0].upper() + op[1:]: {"operationId": op, "parameters": {parameter: pointer}}
        for op in operations
    }


RUN_LINKS = _links(
    "run_id", "$response.body#/id", "getRun", "cancelRun", "deleteRun", "listFilters"
)
JOB_LINKS = _links("job_id", "$response.body#/job_id", "getJob")
RUN_LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The run's URL."}}
JOB_LOCATION = {"Location": {"schema": {"type": "string"}, "description": "The job's URL."}}
REPLAYED = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present when the answer is the run of an earlier request with this key.",
    }
}

RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "description": "Seconds to wait before asking again.",
    }
}

INTERNAL = Reply("An unexpected error; the server log has the traceback.")
LOGIN = Reply(
    "The login is on (CNNLENS_AUTH_USER, CNNLENS_AUTH_PASSWORD) and the request has none, or "
    "another: plain text, with WWW-Authenticate.",
    None,
    headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
    media=("text/plain",),
)
# What dashboard/api/guard.py refuses before any view runs (it guards the whole server).
WRONG_HOST = (
    "The Host header names a host this dashboard does not answer for (CNNLENS_ALLOWED_HOSTS)."
)
FOREIGN = Reply("A write from another site or origin (Sec-Fetch-Site, Origin): refused.")
NOT_JSON = Reply(
    "A write sent neither as application/json (even with an empty body) nor with an "
    f"{guard.CUSTOM_HEADER} header."
)
QUEUE_FULL = Reply(
    "Too many runs already wait to train (CNNLENS_MAX_QUEUED_RUNS); nothing is queued.",
    headers=RETRY_AFTER,
)
INVALID = Reply("Invalid input: one message per field.", ValidationErrors)
BAD_BODY = Reply("The body is not JSON, not sent as application/json, or not valid UTF-8.")
TOO_LARGE = Reply("The body is over the size limit (CNNLENS_MAX_REQUEST_BYTES).")
NO_RUN = Reply("No run with this id (or the id is not 32 hex digits).")
NO_RUNS = Reply("No run with one of these ids.")
BUSY = Reply("The task queue is not reachable; try again.")
UNTRAINED = Reply("A run has no trained model yet, or its test images are not on this machine.")
QUEUED = Reply(
    "A worker job computes it; poll /api/jobs/{job_id}, whose `result` is this answer's "
    "`result` once it succeeded.",
    JobQueued,
    headers=JOB_LOCATION,
    links=JOB_LINKS,
)
# Answers of no one operation: a method a path does not take (405, any path).
COMPONENTS: tuple[type[BaseModel], ...] = (NotAllowed,)
ARTIFACT_TYPES = tuple(
    dict.fromkeys([*artifacts.STORED.values(), *artifacts.GENERATED.values(), "image/png"])
)

OPERATIONS: dict[str, Operation] = {
    "health": Operation(
        "health",
        "Is the service able to work?",
        {
            200: Reply("Broker and store are both reachable.", Health),
            503: Reply("The broker or the store is not reachable.", Health),
        },
        health_check=True,
    ),
    "openapi": Operation(
        "getOpenapi", "This document.", {200: Reply("The OpenAPI document.", OpenApiDocument)}
    ),
    "list_runs": Operation(
        "listRuns",
        "Runs, newest first.",
        {200: Reply("The matching runs.", RunList), 422: INVALID},
        params=(RunListQuery,),
    ),
    "create_run": Operation(
        "createRun",
        "Validate a run config and queue its training.",
        {
            201: Reply(
                "The run is recorded and queued. When the task queue is down it stays queued, "
                "with a `warning`, and starts when the queue is back.",
                RunCreated,
                headers=RUN_LOCATION,
                links=RUN_LINKS,
            ),
            200: Reply(
                "The Idempotency-Key was used by an earlier request with the same config: its "
                "run, with `replayed: true`; nothing new is queued.",
                RunCreated,
                headers=RUN_LOCATION | REPLAYED,
                links=RUN_LINKS,
            ),
            400: BAD_BODY,
            413: TOO_LARGE,
            422: Reply(
                "The config is invalid, or the Idempotency-Key is malformed or was used with "
                "another config (field `Idempotency-Key`); nothing is queued.",
                ValidationErrors,
            ),
            429: QUEUE_FULL,
        },
        params=(IdempotencyHeader,),
        body={JSON_MIMETYPE: RunConfig},
        body_required=False,
        body_description="A run config; an empty body or {} means all defaults.",
    ),
    "get_run": Operation(
        "getRun",
        "A run with its history, layer table and downloads.",
        {200: Reply("The run.", RunDetail), 404: NO_RUN},
        params=(RunPath,),
    ),
    "delete_run": Operation(
        "deleteRun",
        "Delete a run and its files.",
        {
            204: Reply("Deleted (a running run was asked to stop first).", None, media=()),
            404: NO_RUN,
        },
        params=(RunPath,),
    ),
    "update_run": Operation(
        "updateRun",
        "Rename a run, or set its tags or notes (in any status).",
        {
            200: Reply("The run, changed.", RunDetail),
            400: BAD_BODY,
            404: NO_RUN,
            413: TOO_LARGE,
            422: INVALID,
        },
        params=(RunPath,),
        body={JSON_MIMETYPE: RunPatch},
    ),
    "cancel_run": Operation(
        "cancelRun",
        "Cancel a run.",
        {
            202: Reply(
                "A queued run is cancelled at once; a running one is asked to stop and ends "
                "`cancelled`. Cancelling again is fine.",
                CancelAnswer,
            ),
            404: NO_RUN,
            409: Reply("The run already finished (succeeded or failed)."),
        },
        params=(RunPath,),
    ),
    "retry_run": Operation(
        "retryRun",
        "Start a failed, cancelled or interrupted run again, as a new run.",
        {
            201: Reply(
                "The new run, queued, with the same config and name; its `parent_id` is the run "
                "retried. An interrupted run is cancelled (it would otherwise resume too).",
                RunCreated,
                headers=RUN_LOCATION,
            ),
            200: Reply(
                "The Idempotency-Key was used by an earlier retry of this run: its new run, with "
                "`replayed: true`; nothing new is queued.",
                RunCreated,
                headers=RUN_LOCATION | REPLAYED,
            ),
            404: NO_RUN,
            409: Reply("The run is queued, running or succeeded: nothing to retry."),
            422: Reply(
                "The run's config is no longer valid here (e.g. its dataset is missing), or the "
                "Idempotency-Key is malformed or was used for another request.",
                ValidationErrors,
            ),
            429: QUEUE_FULL,
        },
        params=(RunPath, IdempotencyHeader),
    ),
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
    "list_datasets": Operation(
        "listDatasets",
        "Every dataset runs can use: the built-in ones, then the imported ones, newest first.",
        {200: Reply("The datasets.", DatasetList)},
    ),
    "create_dataset": Operation(
        "createDataset",
        "Import a dataset from a .npz or a .zip of class folders (multipart).",
        {
            202: Reply(
                "Accepted: the dataset, `importing`; its job reads the archive on an analysis "
                "worker (poll the dataset or the job).",
                Dataset,
                headers={"Location": {"schema": {"type": "string"}, "description": "Its URL."}},
            ),
            413: Reply("The upload is over CNNLENS_DATASET_MAX_BYTES."),
            415: Reply("Not a multipart form."),
            422: Reply(
                "No name, no file, a file that is neither .npz nor .zip, or an archive that is "
                "truncated, not an archive or hostile (the message says which); nothing is kept.",
                ValidationErrors,
            ),
            503: BUSY,
        },
        body={"multipart/form-data": DatasetUpload},
        description="Everything else the import refuses (mixed shapes it cannot resize, empty "
        "classes, labels out of range, test classes the training set lacks, non-images, zip "
        "bombs, paths that climb out, symlinks) ends the dataset `failed` with a sentence in "
        "`error`, and its files are removed.",
    ),
    "get_dataset": Operation(
        "getDataset",
        "One dataset: status, shape, classes, counts, notes.",
        {200: Reply("The dataset.", Dataset), 404: Reply("No dataset with this id or name.")},
        params=(DatasetPath,),
    ),
    "delete_dataset": Operation(
        "deleteDataset",
        "Delete an imported dataset and its files.",
        {
            200: Reply("Deleted.", DatasetDeleted),
            404: Reply("No imported dataset with this id."),
            409: Reply("Runs use it (delete them first), or it is built in."),
        },
        params=(DatasetPath,),
    ),
    "get_job": Operation(
        "getJob",
        "A job's status: an extraction, a CKA matrix or filter statistics.",
        {
            200: Reply("The job; `result` is set when it succeeded.", Job),
            404: Reply("No job with this id."),
        },
        params=(JobPath,),
    ),
    "filter_stats": Operation(
        "getFilterStats",
        "Per-filter statistics of every conv layer on the probe batch.",
        {
            200: Reply("Computed before: the statistics.", FilterStatsCached),
            202: QUEUED,
            404: NO_RUN,
            409: UNTRAINED,
            503: BUSY,
        },
        params=(RunPath,),
        description="Mean, spread and peak of each filter's activations on the first "
        f"{PROBE_BATCH} test images, how often it stays silent, and whether it is dead (never fires).",
    ),
    "filter_analysis": Operation(
        "getFilterAnalysis",
        "One filter's page: top images, class selectivity, ablation, flags, twins, a picture.",
        {
            200: Reply("Computed before: the analysis.", FilterAnalysisCached),
            202: QUEUED,
            404: Reply("No such run, conv layer or filter (the message lists what there is)."),
            409: UNTRAINED,
            503: BUSY,
        },
        params=(RunPath, LayerPath, FilterIndexPath),
        description="On the run's whole test set: the 9 images on which the filter's map peaks "
        "highest (with the receptive field of the peak, in input pixels), its mean activation "
        "per class, the test accuracy with its map zeroed (the stored model is not changed), "
        "whether it is dead or nearly duplicates another filter of its layer, its best match in "
        "every other run on the dataset (by feature maps on the probe batch, any conv layer), "
        "and the download path of an activation-maximisation image.",
    ),
    "epoch_cka": Operation(
        "getEpochCka",
        "CKA of every layer after each epoch with the same layer of the finished model.",
        {
            200: Reply("Computed before: the matrix and its intervals.", EpochCkaCached),
            202: QUEUED,
            404: NO_RUN,
            409: UNTRAINED,
            503: BUSY,
        },
        params=(RunPath,),
        description="Which layers settle first: minibatch CKA (unbiased HSIC) on the probe "
        "batch, with bootstrap intervals; needs the weights of every epoch, which trainings keep "
        "for small models. A job that cannot be done fails with a sentence (poll the job).",
    ),
    "ablation_curve": Operation(
        "getAblationCurve",
        "Test accuracy as a conv layer's filters are zeroed, most important first.",
        {
            200: Reply("Computed before: the curve.", AblationCached),
            202: QUEUED,
            404: NO_RUN,
            409: UNTRAINED,
            422: Reply(
                "No layer given, or one that is not a conv layer of the run (the message lists "
                "its conv layers).",
                ValidationErrors,
            ),
            503: BUSY,
        },
        params=(RunPath, AblationQuery),
        description="On the run's whole test set: each filter's importance is the accuracy "
        "lost when it alone is zeroed (ties: the probability of the true class lost; layers of "
        "more than 128 filters use their mean absolute activation instead), and the curve is "
        "the accuracy with the k most important zeroed together, from none to all. Zeroing "
        "masks the layer's output in the worker; the stored model is not changed. The job "
        "reports its `progress`.",
    ),
    "compare_filters": Operation(
        "compareFilters",
        "Match the filters of a conv layer of run a to those of run b.",
        {
            200: Reply("The matched pairs, in a's filter order.", FilterAlignment),
            404: NO_RUNS,
            409: Reply("The filters of a run are not stored yet."),
            422: Reply(
                "A missing or malformed parameter, a layer a run does not have, or kernels of "
                "different shapes (the message says which).",
                ValidationErrors,
            ),
        },
        params=(PairQuery, CompareFiltersQuery, CompareEpochQuery),
        description="Filter order is an arbitrary permutation: each filter of a is paired with a "
        "distinct filter of b so that the total correlation is largest (Hungarian assignment).",
    ),
    "compare_cka": Operation(
        "compareCka",
        "Linear CKA between every layer of run a and every layer of run b.",
        {
            200: Reply("Computed before: the matrix and its confidence intervals.", CkaCached),
            202: Reply(
                "Being computed: poll the job; `partial` is the fast probe-batch answer once "
                "written.",
                CkaQueued,
                headers=JOB_LOCATION,
                links=JOB_LINKS,
            ),
            404: NO_RUNS,
            409: UNTRAINED,
            422: Reply("A missing parameter, or runs on different datasets.", ValidationErrors),
            503: BUSY,
        },
        params=(PairQuery,),
        description=f"First on the probe batch (the first {PROBE_BATCH} test images of the "
        "runs' shared dataset), then as minibatch CKA over the whole test set with the unbiased "
        "HSIC estimator (Nguyen, Raghu & Kornblith 2021) and 95% bootstrap intervals over the "
        "minibatches; 1 means two layers represent the images alike up to a rotation and scale.",
    ),
}


def replies(operation: Operation, method: str) -> dict[int, Reply]:
    """Every status `method` on `operation` can answer with: its own, the guard's, and 500."""
    out = dict(operation.replies)
    own = out.get(400)
    if operation.health_check:
        out[500] = INTERNAL
        return dict(sorted(out.items()))
    out[400] = (
        Reply(WRONG_HOST)
        if own is None
        else replace(
            own, description=f"{own.description} Or: {WRONG_HOST[0].lower()}{WRONG_HOST[1:]}"
        )
    )
    out.setdefault(401, LOGIN)
    if method.upper() in guard.WRITES:
        out.setdefault(403, FOREIGN)
        out.setdefault(415, NOT_JSON)
    out[500] = INTERNAL
    return dict(sorted(out.items()))
