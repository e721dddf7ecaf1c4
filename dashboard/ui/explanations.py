"""The sentence under each view: what it shows and how to read it, for a first-time reader.

One place for these texts, so the run page, the report and the other pages say the same thing,
and the terms they use link to the glossary (components.term_link).
"""

from __future__ import annotations

from typing import Any

from dashboard.ui.components import tr
from dashboard.ui.i18n import number, t


def curves() -> list[Any]:
    return tr("explain.curves")


def model() -> list[Any]:
    return tr("explain.model")


def samples() -> list[Any]:
    return tr("explain.samples")


def confusion() -> list[Any]:
    return tr("explain.confusion")


def filters(interactive: bool = True) -> list[Any]:
    how = " " + t("explain.filters.interactive") if interactive else ""
    return [*tr("explain.filters"), how]


def feature_maps(interactive: bool = True) -> list[Any]:
    start = t("explain.maps.start" if interactive else "explain.maps.start_static")
    return [start, " ", *tr("explain.maps")]


def probabilities() -> list[Any]:
    return tr("explain.probabilities")


def layer_caption(
    kind: str, shape: tuple[int, ...], config_layer: dict[str, Any], interactive: bool = True
) -> list[Any]:
    """A line about one layer's output (its kind, output shape and settings), under its maps."""
    activation = config_layer.get("activation")
    if kind == "conv2d":
        activation = activation or "relu"
        caption = tr("caption.conv", n=shape[2], h=shape[0], w=shape[1])
        if activation == "relu":
            caption += [" ", *tr("caption.conv.relu")]
        return [*caption, " " + t("caption.conv.click") if interactive else ""]
    if kind in ("maxpool2d", "avgpool2d"):
        key = "caption.maxpool" if kind == "maxpool2d" else "caption.avgpool"
        size = config_layer.get("pool_size", 2)
        return tr(key, h=shape[0], w=shape[1], size=size)
    if kind == "flatten":
        return tr("caption.flatten", n=number(f"{shape[0]:,}"))
    if kind == "dropout":
        return [t("caption.dropout")]
    if kind == "batchnorm":
        return tr("caption.batchnorm", n=shape[-1])
    if kind in ("globalavgpool2d", "globalmaxpool2d"):
        key = "caption.globalavgpool" if kind == "globalavgpool2d" else "caption.globalmaxpool"
        return tr(key, n=shape[0])
    if kind == "activation":
        return tr("caption.activation", activation=activation or "relu")
    if activation == "softmax":
        return tr("caption.softmax")
    return tr("caption.dense", n=shape[0])
