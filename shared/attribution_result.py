"""Attribution requests and results, shared by the worker that computes them and the dashboard.

An attribution says how much each input pixel counted for one class of one model's answer. The
methods (`METHODS`) are computed by `worker/attribution.py`; this module holds, without
TensorFlow, what both sides must agree on: the names and defaults of a request, its cache key and
job id (derived from what is computed, so asking twice is one job), the files in the run folder,
and the JSON summary of a result (`AttributionResult`), which a cache hit answered by the
dashboard and a fresh result written by the worker build the same way.

Files (`<run>/attributions/`):
- `<input hash>.input.npy`: uint8, one image of the run's dataset ((h, w) grayscale, such as
  28×28, or (h, w, 3) colour), the input asked for;
- `<key>.npz`: `input` (that image), `attribution` float32 (h, w): the raw per-pixel
  attribution summed over the input's channels, not normalised; `probabilities` float32 (C,);
  with the sanity check also `randomised` float32 (h, w) (the same method on a copy of the model
  with re-initialised weights) and `randomised_probabilities`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

ATTRIBUTION_DIR = "attributions"
METHODS = ("saliency", "smoothgrad", "integrated_gradients", "gradcam", "hirescam", "occlusion")
Method = Literal[
    "saliency", "smoothgrad", "integrated_gradients", "gradcam", "hirescam", "occlusion"
]
LAYER_METHODS = ("gradcam", "hirescam")  # the methods that read one conv layer's maps
BASELINES = ("black", "blur", "mean")  # Integrated Gradients' starting image
DEFAULT_BASELINE = "black"
MAX_FILES = 400  # attribution results kept per run; the oldest go first
# Part of every cache key: raise it when a method computes something else for the same request,
# so results stored by an earlier version are not answered as if they were new ones.
VERSION = 2

# The numbers behind each method (fixed: they are part of what a cached result means).
SMOOTHGRAD_SAMPLES = 50
SMOOTHGRAD_NOISE = 0.15  # standard deviation of the noise, as a share of the input range [0, 1]
SMOOTHGRAD_SEED = 0
IG_STEPS = (64, 128, 256, 512)  # doubled until completeness holds within IG_TOLERANCE
IG_TOLERANCE = 0.01  # |sum of attributions − (f(x) − f(baseline))| ≤ 1 % of |f(x) − f(baseline)|
BLUR_SIGMA = 4.0  # pixels: the "blur" baseline keeps no stroke detail
OCCLUSION_PATCH = 6  # pixels, square, set to black
OCCLUSION_STRIDE = 2
RANDOM_SEED = 0  # weights of the sanity check's re-initialised copy
UNRELIABLE_AT = 0.5  # Spearman correlation of |maps| at or above which a method fails the check

# What each method explains: the target class's probability, except the two CAMs, which (as in
# their papers) weigh the conv layer's maps by the gradient of the class score before the softmax.
SCORES = {method: "probability" for method in METHODS} | {m: "logit" for m in LAYER_METHODS}

ABOUT = {
    "saliency": "the gradient of the class probability with respect to each pixel",
    "smoothgrad": f"the gradient averaged over {SMOOTHGRAD_SAMPLES} noisy copies of the input "
    f"(noise σ = {SMOOTHGRAD_NOISE})",
    "integrated_gradients": "(input − baseline) × the gradient averaged along the straight path "
    "from the baseline to the input; the pixels sum to f(input) − f(baseline)",
    "gradcam": "the conv layer's feature maps weighted by the mean gradient of the class score, "
    "positive part, placed over the input pixels each cell sees (receptive-field centres, "
    "bilinear)",
    "hirescam": "the conv layer's feature maps times the gradient of the class score, cell by "
    "cell, summed over the maps (signed, not cut at 0), placed over the input pixels each cell "
    "sees; with a flatten and a dense layer after it, the cells sum to the class score minus "
    "its bias",
    "occlusion": f"how much the class probability drops when a {OCCLUSION_PATCH}×"
    f"{OCCLUSION_PATCH} black patch covers the pixel (averaged over the patches covering it, "
    f"every {OCCLUSION_STRIDE} pixels)",
}


class Completeness(BaseModel):
    """Integrated Gradients' check: the attributions sum to f(input) − f(baseline)."""

    model_config = ConfigDict(extra="forbid")

    total: float = Field(description="Sum of the attribution over every pixel.")
    expected: float = Field(description="f(input) − f(baseline), the target's probability.")
    relative_error: float
    steps: int = Field(description="Points on the path from the baseline to the input.")


class SanityCheck(BaseModel):
    """The model-randomisation test (Adebayo et al. 2018): the same method on re-initialised
    weights. A map that barely changes does not depend on what the model learned."""

    model_config = ConfigDict(extra="forbid")

    spearman: float = Field(description="Rank correlation of the absolute maps, -1 to 1.")
    ssim: float = Field(description="Structural similarity of the maps scaled to [0, 1].")
    unreliable: bool = Field(description=f"spearman ≥ {UNRELIABLE_AT}: the map barely changed.")
    threshold: float = UNRELIABLE_AT
    randomised_predicted: int


class AttributionResult(BaseModel):
    """One input's attribution for one class through one run's model (`download`: the .npz)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    input_hash: str
    method: Method
    target: int = Field(description="The class explained.")
    target_was: Literal["predicted", "chosen"]
    predicted: int
    probabilities: list[float | None]
    score: Literal["probability", "logit"]
    layer: str | None = Field(description="The CAMs' conv layer; null for other methods.")
    baseline: str | None = Field(description="Integrated Gradients' baseline; null otherwise.")
    shape: list[int]
    total: float = Field(description="Sum of the attribution over every pixel.")
    min: float
    max: float
    completeness: Completeness | None = None
    sanity: SanityCheck | None = None
    about: str
    download: str = Field(description="Where the arrays can be downloaded (.npz).")


def canonical(
    method: str,
    target: int | None,
    layer: str | None,
    baseline: str | None,
    sanity: bool,
) -> dict[str, Any]:
    """The parameters that decide a result, with defaults filled and the irrelevant ones None."""
    return {
        "method": method,
        "target": None if target is None else int(target),
        "layer": layer if method in LAYER_METHODS else None,
        "baseline": (baseline or DEFAULT_BASELINE) if method == "integrated_gradients" else None,
        "sanity": bool(sanity),
    }


def attribution_key(digest: str, params: dict[str, Any]) -> str:
    """32 hex digits naming one result of one run: the input and the canonical parameters."""
    text = json.dumps({"input": digest, "version": VERSION, **params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def attribution_job_id(run_id: str, key: str) -> str:
    return hashlib.sha256(f"attribute:{run_id}:{key}".encode()).hexdigest()[:32]


def input_rel(digest: str) -> str:
    return f"{ATTRIBUTION_DIR}/{digest}.input.npy"


def result_rel(key: str) -> str:
    return f"{ATTRIBUTION_DIR}/{key}.npz"


def _finite(value: float) -> float:
    return round(float(value), 8) if np.isfinite(value) else 0.0


def summarize(
    run_id: str,
    digest: str,
    key: str,
    params: dict[str, Any],
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The JSON result of an attribution, from its arrays and the worker's `meta` (target,
    completeness, sanity), as stored in the job and answered for a cache hit."""
    attribution = np.asarray(arrays["attribution"], dtype=np.float64)
    probs = np.asarray(arrays["probabilities"], dtype=np.float64)
    return AttributionResult(
        run_id=run_id,
        input_hash=digest,
        method=params["method"],
        target=int(meta["target"]),
        target_was="predicted" if params.get("target") is None else "chosen",
        predicted=int(np.argmax(probs)),
        probabilities=[round(float(p), 6) if np.isfinite(p) else None for p in probs],
        score=SCORES[params["method"]],  # type: ignore[arg-type]
        layer=meta.get("layer"),
        baseline=params.get("baseline"),
        shape=list(attribution.shape),
        total=_finite(attribution.sum()),
        min=_finite(attribution.min()),
        max=_finite(attribution.max()),
        completeness=meta.get("completeness"),
        sanity=meta.get("sanity"),
        about=ABOUT[params["method"]],
        download=f"/api/runs/{run_id}/artifacts/{result_rel(key)}",
    ).model_dump()


def meta_arrays(meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """The worker's `meta` stored in the .npz as one JSON string, so a cache hit needs no job."""
    return {"meta": np.asarray(json.dumps(meta))}


def read_meta(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.get("meta")
    return {} if raw is None else json.loads(str(raw))


# --- similarity of two maps (the sanity check), numpy only ------------------------------------------


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), as Spearman's coefficient needs."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps' values (0 when either is constant)."""
    ra, rb = _ranks(np.ravel(a).astype(np.float64)), _ranks(np.ravel(b).astype(np.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def _unit(values: np.ndarray) -> np.ndarray:
    v = np.abs(np.asarray(values, dtype=np.float64))
    top = v.max() if v.size else 0.0
    return v / top if top > 0 else np.zeros_like(v)


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Mean structural similarity of two maps' absolute values scaled to [0, 1] (Wang et al.
    2004, uniform `window`×`window` windows over the valid area, C1 = 0.01², C2 = 0.03²)."""
    x, y = _unit(a), _unit(b)
    c1, c2 = 0.01**2, 0.03**2
    view = np.lib.stride_tricks.sliding_window_view
    wx, wy = view(x, (window, window)), view(y, (window, window))
    mx, my = wx.mean(axis=(-2, -1)), wy.mean(axis=(-2, -1))
    vx, vy = wx.var(axis=(-2, -1)), wy.var(axis=(-2, -1))
    cov = (wx * wy).mean(axis=(-2, -1)) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def sanity_summary(
    trained: np.ndarray, randomised: np.ndarray, randomised_predicted: int
) -> dict[str, Any]:
    rho = spearman(np.abs(trained), np.abs(randomised))
    return SanityCheck(
        spearman=round(rho, 6),
        ssim=round(ssim(trained, randomised), 6),
        unreliable=rho >= UNRELIABLE_AT,
        randomised_predicted=int(randomised_predicted),
    ).model_dump()
