"""The sentence under each view: what it shows and how to read it, for a first-time reader.

One place for these texts, so the run page, the report and the other pages say the same thing,
and the terms they use link to the glossary (components.term_link).
"""

from __future__ import annotations

from typing import Any

from dashboard.components import term_link as t


def curves() -> list[Any]:
    return [
        t("Loss", "loss"),
        " (how wrong the model is: lower is better) and ",
        t("accuracy", "accuracy"),
        " (share of images it gets right: higher is better) after each ",
        t("epoch", "epoch"),
        ", on the training images (blue) and on the held-out ",
        t("validation images", "validation"),
        " (orange). Both should improve; when validation stops improving while training still "
        "does, the model has started to memorise its training images.",
    ]


def model() -> list[Any]:
    return [
        "The layers in order. Output shape is height × width × channels: a conv layer's "
        "channels are its ",
        t("feature maps", "feature-map"),
        ", one per ",
        t("filter", "filter"),
        ". Params counts the weights training adjusts; ",
        t("pooling", "pooling"),
        " and ",
        t("flatten", "flatten"),
        " have none.",
    ]


def samples() -> list[Any]:
    return [
        "The first images of the training set with their labels, as the model sees them: 28×28 "
        "pixels, gray levels scaled to 0…1 (",
        t("normalisation", "normalisation"),
        "). The model learns from thousands like these (",
        t("MNIST", "mnist"),
        ").",
    ]


def confusion() -> list[Any]:
    return [
        "The ",
        t("confusion matrix", "confusion-matrix"),
        ": test images the model never trained on, by true class (rows) and predicted class "
        "(columns). The diagonal is what it gets right; a dark cell off the diagonal is a "
        "frequent mix-up, e.g. row 4, column 9 counts fours read as nines.",
    ]


def filters(interactive: bool = True) -> list[Any]:
    how = (
        " Move the epoch slider to watch them form from random noise; click a filter to see "
        "its numbers."
        if interactive
        else ""
    )
    return [
        "What each conv layer learned to look for. Every small image is one ",
        t("filter", "filter"),
        ": its weights, white = large, black = small or negative. During the ",
        t("convolution", "convolution"),
        " the filter slides over the image and responds where the image looks like it: a "
        "white stripe between dark ones finds strokes of that direction." + how,
    ]


def feature_maps(interactive: bool = True) -> list[Any]:
    start = (
        "Pick a test image (one per class; ✓/✗ is the model's prediction) and follow it "
        "through the network."
        if interactive
        else "One test image followed through the network, layer by layer."
    )
    return [
        start + " Each tile is a ",
        t("feature map", "feature-map"),
        ": where one filter found its pattern in this image (yellow = strong, purple = weak). "
        "Early layers still look like the digit; after ",
        t("pooling", "pooling"),
        " and deeper layers the maps get smaller and more abstract. At the end, ",
        t("softmax", "softmax"),
        " turns the last layer into one probability per class.",
    ]


def probabilities() -> list[Any]:
    return [
        "The model's answer: one probability per class (",
        t("softmax", "softmax"),
        "). Green is its choice when right, red when wrong; the outlined bar is the true class.",
    ]


def layer_caption(
    kind: str, shape: tuple[int, ...], config_layer: dict[str, Any], interactive: bool = True
) -> list[Any]:
    """A line about one layer's output (its kind, output shape and settings), under its maps."""
    activation = config_layer.get("activation")
    if kind == "conv2d":
        activation = activation or "relu"
        zero: list[Any] = (
            [" With ", t("relu", "relu"), ", negative responses are cut to 0 (dark)."]
            if activation == "relu"
            else []
        )
        return [
            f"{shape[2]} ",
            t("feature maps", "feature-map"),
            f" of {shape[0]}×{shape[1]}: where each filter of this layer finds its pattern in "
            "the image. Yellow = strong response, purple = weak.",
            *zero,
            " Click a map to see its values." if interactive else "",
        ]
    if kind in ("maxpool2d", "avgpool2d"):
        how = "the strongest" if kind == "maxpool2d" else "the average"
        size = config_layer.get("pool_size", 2)
        return [
            t("Pooling", "pooling"),
            f": the previous maps shrunk to {shape[0]}×{shape[1]} by keeping {how} response of "
            f"each {size}×{size} window: the same patterns, coarser, and less sensitive to small "
            "shifts.",
        ]
    if kind == "flatten":
        return [
            t("Flatten", "flatten"),
            f": the maps laid out as one list of {shape[0]:,} numbers, which the ",
            t("dense", "dense"),
            " layer reads.",
        ]
    if kind == "dropout":
        return ["Dropout only acts while training; for a prediction it passes its input on."]
    if activation == "softmax":
        return [
            "The output: one probability per class (",
            t("softmax", "softmax"),
            "). The tallest bar is the prediction.",
        ]
    return [
        f"{shape[0]} units of a ",
        t("dense", "dense"),
        " layer: each one a weighted sum of all its inputs.",
    ]
