"""The comparison answers as pydantic models: matched filters, layer similarity, filter statistics.

`FilterStats` and `CkaResult` are the files the analysis worker writes (docs/CONTRACTS.md,
`analysis/filter_stats.json` and `analysis/cka/<b>.json`) and the `result` of their jobs;
`FilterAlignment` is what `dashboard.service.comparisons.align` answers at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dashboard.api.models import Answer, Shape
from shared.run_view import RunId

Fraction = Annotated[float, Field(ge=0, le=1)]
# Statistics of a diverged model can be NaN or infinite: those go out as null.
Statistic = float | None


class FilterRow(Answer):
    channel: int
    mean: Statistic
    std: Statistic
    max: Statistic
    silent_fraction: Fraction = Field(description="Images on which the filter fires nowhere.")
    sparsity: Fraction = Field(description="Values (images × positions) that do not fire.")
    dead: bool = Field(description="It fires on no image at all.")


class LayerStats(Answer):
    name: str
    activation: str
    relu_like: bool = Field(description="Fires means > 0 (else: not 0).")
    filters: list[FilterRow]


class FilterStats(Answer):
    """Per-filter statistics of every conv layer on the probe batch."""

    run_id: RunId
    dataset: str
    probe_images: int
    layers: list[LayerStats]


CkaMatrix = list[list[Fraction | None]]


class CkaResult(Answer):
    """Linear CKA: matrix[i][j] is the similarity of layers_a[i] and layers_b[j].

    The final answer is minibatch CKA over the whole test set with the unbiased HSIC estimator,
    and lower[i][j], upper[i][j] bound its bootstrap confidence interval. The fast first answer
    (the `partial` of a queued answer, or a file from before intervals) is the plain estimator
    on the probe batch, with lower and upper null.
    """

    a: RunId
    b: RunId
    dataset: str
    probe_images: int = Field(description="Images of the probe-batch estimate.")
    layers_a: list[str]
    layers_b: list[str]
    matrix: CkaMatrix
    lower: CkaMatrix | None = Field(None, description="Lower bounds of the intervals.")
    upper: CkaMatrix | None = Field(None, description="Upper bounds of the intervals.")
    estimator: Literal["probe", "minibatch-unbiased"] | None = None
    test_images: int | None = Field(None, description="Images of the whole-test-set estimate.")
    batches: int | None = Field(None, description="Minibatches they were cut into.")
    batch_size: int | None = None
    level: Fraction | None = Field(None, description="Confidence level of the intervals.")
    probe_matrix: CkaMatrix | None = Field(None, description="The probe-batch estimate.")


class FilterPair(Answer):
    a: int = Field(description="A filter of run a.")
    b: int = Field(description="The filter of run b matched with it.")
    correlation: float = Field(ge=-1, le=1, description="Pearson r of the two.")


class FilterAlignment(Answer):
    """pairs[i] matches filter a of run a with filter b of run b; order_b lists b's filters in
    a's order."""

    a: RunId
    b: RunId
    layer_a: str
    layer_b: str
    epoch: int | None
    kernel_shape: Shape
    pairs: list[FilterPair]
    order_b: list[int]
    mean_correlation: float
    absolute: bool


class FilterStatsCached(Answer):
    """Computed before: the statistics."""

    status: Literal["cached"]
    result: FilterStats


class CkaQueued(Answer):
    """The whole-test-set CKA is being computed: poll `job_url`; `partial` is the probe-batch
    answer once the job has written it."""

    status: Literal["queued"]
    job_id: RunId
    job_url: str
    partial: CkaResult | None = None


class CkaCached(Answer):
    """Computed before: the matrix."""

    status: Literal["cached"]
    result: CkaResult
