"""The bodies of POST /api/runs/{id}/attributions, as pydantic models (see models.py).

The result itself is `shared.attribution_result.AttributionResult`, which the worker and the
dashboard both build: reused here, not copied.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, RootModel

from dashboard.api.models import (
    Absent,
    Answer,
    Closed,
    DataUrlImage,
    GridImage,
    IndexedImage,
)
from shared import attribution_result as ar
from shared.attribution_result import AttributionResult
from shared.images import MAX_BYTES

Method = Literal[
    "saliency", "smoothgrad", "integrated_gradients", "gradcam", "hirescam", "occlusion"
]
Baseline = Literal["black", "blur", "mean"]
TARGET = (
    'The class to explain: a class number, "predicted" (the default: the model\'s answer) or '
    '"true" (a test image\'s label).'
)


class AttributionSettings(Closed):
    method: Method = Field(description="How the attribution is computed.")
    target: int | Literal["predicted", "true"] | Absent = Field(None, description=TARGET)
    layer: str | Absent = Field(
        None,
        description="The conv layer of gradcam and hirescam (default: the last); only for them.",
    )
    baseline: Baseline | Absent = Field(
        None,
        description="Integrated Gradients' starting image: black (the default, all zeros), the "
        "input blurred, or the mean training image; only for integrated_gradients.",
    )
    sanity_check: bool | Absent = Field(
        None,
        description="Also run the method on a copy of the model with re-initialised weights "
        "and compare the maps (the stored model is not changed).",
    )


class IndexedAttribution(IndexedImage, AttributionSettings):
    pass


class GridAttribution(GridImage, AttributionSettings):
    pass


class DataUrlAttribution(DataUrlImage, AttributionSettings):
    pass


class AttributionRequest(RootModel[IndexedAttribution | GridAttribution | DataUrlAttribution]):
    """An input (a test-set image by index, a 28×28 grayscale grid, or a picture as a data URL)
    and what to explain of the model's answer to it."""


class AttributionUpload(Closed):
    """A picture file and the settings as form fields."""

    image: bytes = Field(
        description=f"A PNG/JPEG/GIF/BMP/WebP picture of any size up to {MAX_BYTES // 2**20} MB."
    )
    method: Method
    target: str | Absent = Field(None, description=TARGET + ' ("true" needs a test image).')
    layer: str | Absent = None
    baseline: Baseline | Absent = None
    sanity_check: Literal["true", "false", "1", "0"] | Absent = None


class AttributionCached(Answer):
    """Computed before: the result, with its download."""

    status: Literal["cached"]
    result: AttributionResult
    input_png: str | Absent = Field(
        None, description="For a picture: the 28×28 input the model got, as a PNG data URL."
    )


METHODS_TEXT = ", ".join(ar.METHODS)
