"""Bodies of POST /api/models (a `.keras` model trained elsewhere, imported as a run)."""

from __future__ import annotations

from pydantic import Field

from dashboard.api.models import Absent, Closed
from shared.config import MAX_NAME
from shared.keras_archive import MAX_FILE_BYTES


class ModelUpload(Closed):
    """A Keras 3 `.keras` file (what model.save("model.keras") writes), the dataset it was trained
    for, and a name. Its config.json is read as data and mapped onto CNN Lens' layers; its
    weights are copied into the model CNN Lens builds; nothing in it is ever run."""

    model: bytes = Field(
        description=f"The .keras file (a zip of config.json and model.weights.h5), up to "
        f"{MAX_FILE_BYTES // 2**20} MiB and the request body limit. Sequential models, or "
        "Functional ones whose layers form one chain, of the layers CNN Lens builds."
    )
    dataset: str = Field(
        description="A built-in dataset's name or an imported dataset's id, whose images have "
        "the model's input shape and whose classes the last layer has one unit for each."
    )
    name: str | Absent = Field(
        None, max_length=MAX_NAME, description="The run's name; by default the model's own."
    )
