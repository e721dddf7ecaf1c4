"""The operations of imported datasets and of worker jobs (see dashboard/api/operations/__init__.py)."""

from __future__ import annotations

from dashboard.api.models import (
    Job,
    ValidationErrors,
)
from dashboard.api.models_datasets import (
    Dataset,
    DatasetDeleted,
    DatasetList,
    DatasetPath,
    DatasetUpload,
)
from dashboard.api.operations.base import (
    BUSY,
    Operation,
    Reply,
)
from dashboard.api.params import (
    JobPath,
)

OPERATIONS: dict[str, Operation] = {
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
}
