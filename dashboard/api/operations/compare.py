"""The operations of the compare page and a filter's analysis: filter statistics, a filter's
analysis, epoch CKA, the ablation curve, aligned filters and CKA between runs (see
dashboard/api/operations/__init__.py)."""

from __future__ import annotations

from dashboard.api.models import (
    ValidationErrors,
)
from dashboard.api.models_compare import CkaCached, CkaQueued, FilterAlignment, FilterStatsCached
from dashboard.api.models_filters import (
    AblationCached,
    EpochCkaCached,
    FilterAnalysisCached,
    FilterIndexPath,
)
from dashboard.api.operations.base import (
    BUSY,
    JOB_LINKS,
    JOB_LOCATION,
    NO_RUN,
    NO_RUNS,
    QUEUED,
    UNTRAINED,
    Operation,
    Reply,
)
from dashboard.api.params import (
    AblationQuery,
    CompareEpochQuery,
    CompareFiltersQuery,
    LayerPath,
    PairQuery,
    RunPath,
)
from shared.comparison import PROBE_BATCH

OPERATIONS: dict[str, Operation] = {
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
