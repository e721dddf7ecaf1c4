"""The glossary's words: what each term means, for someone meeting CNNs for the first time.

Term ids and links; the words are in the catalogues (dashboard/locales). `dashboard/pages/
ui/glossary.py` shows it at /glossary (one anchor per term id, e.g. /glossary#relu) and `components.term_link` points the pages' explanations at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.ui.i18n import t


@dataclass(frozen=True)
class Term:
    """A glossary entry; its words live in the catalogues (glossary.<id>.title/short/long)."""

    term_id: str
    related: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return t(f"glossary.{self.term_id}.title")

    @property
    def short(self) -> str:
        """One sentence: shown as the link's tooltip and at the top of the entry."""
        return t(f"glossary.{self.term_id}.short")

    @property
    def long(self) -> str:
        """A few sentences that say how the term shows up in CNN Lens."""
        return t(f"glossary.{self.term_id}.long")


# In reading order, from "CNN" to comparing runs. The words are in dashboard/locales/*.json.
TERMS: dict[str, Term] = {
    "cnn": Term("cnn", ("convolution", "filter", "feature-map", "dense")),
    "filter": Term("filter", ("convolution", "feature-map", "dead-filter")),
    "feature-map": Term("feature-map", ("filter", "pooling", "relu")),
    "convolution": Term("convolution", ("filter", "padding", "feature-map")),
    "padding": Term("padding", ("convolution", "filter")),
    "pooling": Term("pooling", ("feature-map", "convolution")),
    "activation": Term("activation", ("relu", "softmax")),
    "relu": Term("relu", ("activation", "feature-map", "dead-filter")),
    "softmax": Term("softmax", ("activation", "dense", "loss")),
    "dense": Term("dense", ("flatten", "softmax")),
    "flatten": Term("flatten", ("dense", "feature-map")),
    "epoch": Term("epoch", ("batch", "loss", "validation")),
    "batch": Term("batch", ("epoch", "optimizer")),
    "optimizer": Term("optimizer", ("learning-rate", "loss", "batch")),
    "learning-rate": Term("learning-rate", ("optimizer",)),
    "loss": Term("loss", ("optimizer", "accuracy", "softmax")),
    "accuracy": Term("accuracy", ("loss", "validation", "confusion-matrix")),
    "validation": Term("validation", ("epoch", "accuracy")),
    "normalisation": Term("normalisation", ("mnist",)),
    "mnist": Term("mnist", ("normalisation", "cnn")),
    "confusion-matrix": Term("confusion-matrix", ("accuracy",)),
    "dead-filter": Term("dead-filter", ("relu", "filter")),
    "cka": Term("cka", ("feature-map",)),
    "saliency": Term("saliency", ("integrated-gradients", "sanity-check")),
    "integrated-gradients": Term("integrated-gradients", ("saliency", "sanity-check")),
    "grad-cam": Term("grad-cam", ("feature-map", "saliency")),
    "occlusion": Term("occlusion", ("saliency", "sanity-check")),
    "sanity-check": Term("sanity-check", ("saliency", "integrated-gradients", "grad-cam")),
    "aligned-filters": Term("aligned-filters", ("filter", "cka")),
    "confidence-interval": Term("confidence-interval", ("cka",)),
    "receptive-field": Term("receptive-field", ("filter", "pooling", "feature-map")),
    "class-selectivity": Term("class-selectivity", ("filter", "feature-map")),
    "ablation": Term("ablation", ("filter", "accuracy", "ablation-curve")),
    "ablation-curve": Term("ablation-curve", ("ablation", "filter", "accuracy")),
    "activation-maximisation": Term("activation-maximisation", ("filter",)),
}

# The terms the teaching material requires ("ReLU/softmax" is two entries).
REQUIRED_TERMS = (
    "cnn",
    "filter",
    "feature-map",
    "convolution",
    "pooling",
    "relu",
    "softmax",
    "dense",
    "flatten",
    "epoch",
    "optimizer",
    "loss",
    "normalisation",
    "mnist",
)


def href(term_id: str) -> str:
    """The glossary address of a term; raises KeyError for a term the glossary lacks."""
    if term_id not in TERMS:
        raise KeyError(f"no glossary entry {term_id!r}")
    return f"/glossary#{term_id}"
