"""One run's analysis answers as pydantic models: a filter's page, its layers across epochs and a
conv layer's ablation curve.

`FilterAnalysis` is `analysis/filters/<layer>-<k>.json`, `EpochCka` is
`analysis/cka_epochs.json` and `AblationCurve` is `analysis/ablation/<layer>.json`
(docs/CONTRACTS.md), written by the analysis worker, and the `result` of their jobs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from dashboard.api.models import Answer
from dashboard.api.params import Params
from shared.run_view import RunId

Fraction = Annotated[float, Field(ge=0, le=1)]
Box = Annotated[list[int], Field(min_length=4, max_length=4)]


class FilterIndexPath(Params):
    place = "path"
    k: int = Field(ge=0, description="The filter's index in its layer, from 0.")


class TopImage(Answer):
    test_index: int = Field(ge=0, description="Index in the dataset's test set.")
    value: float = Field(description="The largest value of the filter's map on this image.")
    box: Box = Field(
        description="[row0, col0, row1, col1]: the receptive field of the strongest unit in "
        "input pixels, half-open (image[row0:row1, col0:col1])."
    )


class ByClass(Answer):
    """An answer with a `class` key (a Python keyword): read and written under that name."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)


class ClassMean(ByClass):
    class_: str = Field(alias="class", description="The class's name.")
    mean: float | None = Field(description="Mean activation over its test images and positions.")
    images: int


class ClassAblation(ByClass):
    class_: str = Field(alias="class")
    accuracy: Fraction
    accuracy_without: Fraction = Field(description="With this filter's feature map zeroed.")


class Ablation(Answer):
    accuracy: Fraction = Field(description="Test accuracy of the stored model.")
    accuracy_without: Fraction = Field(description="The same with this filter's map zeroed.")
    per_class: list[ClassAblation]


class Duplicate(Answer):
    filter: int
    correlation: float = Field(ge=-1, le=1)


class Twin(Answer):
    run_id: RunId
    name: str
    layer: str = Field(description="The conv layer of the other run the twin is in.")
    filter: int
    correlation: float = Field(
        ge=-1, le=1, description="Pearson r of the two filters' feature maps on the probe batch."
    )


class FilterAnalysis(Answer):
    """What filter k of a conv layer responds to, what it is worth, and its twins."""

    run_id: RunId
    layer: str
    filter: int
    filters: int = Field(description="Filters in the layer.")
    dataset: str
    activation: str
    test_images: int
    probe_images: int
    receptive_field: int = Field(description="Side of one unit's receptive field, in pixels.")
    top_images: list[TopImage] = Field(description="The 9 most strongly activating test images.")
    selectivity: list[ClassMean]
    selectivity_index: float | None = Field(
        description="(largest class mean − mean of the others) / their sum; null when the "
        "class means are not all ≥ 0."
    )
    ablation: Ablation
    dead: bool = Field(description="It fires on no test image.")
    near_duplicate: bool
    duplicates: list[Duplicate] = Field(
        description="Filters of the same layer whose maps correlate with this one's at r ≥ 0.9."
    )
    matches: list[Twin] = Field(description="Its twin in each other run on the dataset.")
    activation_max: str = Field(description="Download path of the activation-maximisation PNG.")
    activation_max_objective: float = Field(description="The pre-activation the picture reaches.")
    activation_max_box: Box = Field(
        description="The receptive field of the centre unit the picture was made for, in input "
        "pixels, half-open: where the picture is."
    )
    seconds: float


class FilterAnalysisCached(Answer):
    """Computed before: the analysis."""

    status: Literal["cached"]
    result: FilterAnalysis


class EpochCka(Answer):
    """CKA of each layer after every epoch with the same layer of the finished model:
    matrix[l][e] for layers[l] and epochs[e], with its bootstrap interval."""

    run_id: RunId
    dataset: str
    probe_images: int
    batches: int
    level: Fraction
    layers: list[str]
    epochs: list[int]
    matrix: list[list[Fraction]]
    lower: list[list[Fraction]]
    upper: list[list[Fraction]]
    threshold: Fraction
    settled: list[int | None] = Field(
        description="Per layer: the first epoch from which its CKA stays ≥ threshold."
    )


class EpochCkaCached(Answer):
    """Computed before: the layers across epochs."""

    status: Literal["cached"]
    result: EpochCka


class AblationImportance(Answer):
    """How the filters were ranked, with each one's importance (by filter number)."""

    method: Literal["accuracy_drop", "mean_abs_activation"] = Field(
        description="accuracy_drop: the test accuracy lost when the filter alone is zeroed; "
        "mean_abs_activation (layers of more than 128 filters, where that would take too long): "
        "its mean absolute activation over the test set."
    )
    values: list[float] = Field(description="Each filter's importance, by filter number.")
    probability_drop: list[float] | None = Field(
        description="With accuracy_drop: the mean probability of the true class lost when the "
        "filter alone is zeroed, which orders filters of equal accuracy drop; else null."
    )


class AblationPoint(Answer):
    removed: int = Field(
        ge=0, description="Filters zeroed together: the first `removed` of `order`."
    )
    fraction: Fraction = Field(description="`removed` / `filters`.")
    accuracy: Fraction = Field(description="Test accuracy with them zeroed.")


class AblationCurve(Answer):
    """Test accuracy as a conv layer's filters are zeroed, most important first."""

    run_id: RunId
    layer: str
    dataset: str
    classes: int = Field(description="Classes of the dataset (1 / classes is chance).")
    filters: int = Field(description="Filters in the layer.")
    test_images: int
    importance: AblationImportance
    order: list[int] = Field(description="Filter numbers, most important first.")
    points: list[AblationPoint] = Field(
        description="From 0 filters removed (the model as trained) to all of them (the layer's "
        "output zero): every number for layers of up to 64 filters, else 65 spread evenly."
    )
    every_k: bool = Field(description="Every number of filters removed is on the curve.")
    seconds: float


class AblationCached(Answer):
    """Computed before: the ablation curve."""

    status: Literal["cached"]
    result: AblationCurve
