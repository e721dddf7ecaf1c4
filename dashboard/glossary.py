"""The glossary's words: what each term means, for someone meeting CNNs for the first time.

Pure data. `dashboard/pages/glossary.py` shows it at /glossary (one anchor per term id, e.g.
/glossary#relu) and `components.term_link` points the pages' explanations at it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    title: str
    short: str  # one sentence: shown as the link's tooltip and at the top of the entry
    long: str  # a few sentences that say how it shows up in CNN Lens
    related: tuple[str, ...] = ()


TERMS: dict[str, Term] = {
    "cnn": Term(
        "CNN (convolutional neural network)",
        "A neural network for images that slides small learned patterns over the picture.",
        "Instead of looking at every pixel on its own, a CNN looks at small neighbourhoods: its "
        "first layers find edges and strokes, later ones combine them into loops, corners and "
        "digit parts, and a final dense layer turns all that into one score per class. The "
        "default model here is the teaching notebook's: conv 16 → pooling → conv 32 → flatten → "
        "dense 10.",
        ("convolution", "filter", "feature-map", "dense"),
    ),
    "filter": Term(
        "Filter (kernel)",
        "A small grid of learned weights, e.g. 3×3, that a conv layer slides over its input.",
        "At every position the filter multiplies the pixels under it by its weights and adds "
        "them up: the result is large where the image looks like the filter. Training adjusts "
        "the weights. In CNN Lens each filter is drawn as a tiny gray image: white cells are "
        "large weights, black cells small or negative ones. A layer with 16 filters finds 16 "
        "different patterns.",
        ("convolution", "feature-map", "dead-filter"),
    ),
    "feature-map": Term(
        "Feature map",
        "The output of one filter over the whole image: where its pattern was found.",
        "A conv layer with 16 filters turns one image into 16 feature maps. Bright (yellow) "
        "places are where the filter responded strongly, dark (purple) where it did not. Maps "
        "of the first layer still look like the digit; deeper maps are smaller and more "
        "abstract.",
        ("filter", "pooling", "relu"),
    ),
    "convolution": Term(
        "Convolution",
        "Sliding a filter over an image and taking a weighted sum at every position.",
        "A 3×3 filter over a 28×28 image fits in 26×26 positions, so the map it makes is "
        "26×26 (without padding). The same weights are used everywhere in the image, which is "
        "why a CNN recognises a stroke wherever it appears and needs far fewer weights than a "
        "dense layer would.",
        ("filter", "padding", "feature-map"),
    ),
    "padding": Term(
        "Padding",
        "Whether a conv layer adds a border of zeros so its output keeps the input's size.",
        "With padding 'valid' (the default) a filter only goes where it fits entirely, so each "
        "conv layer shrinks the maps a little: after a 5×5 kernel they are 4 pixels narrower and "
        "4 lower. "
        "With padding 'same' the image is surrounded by zeros first and the map keeps its size.",
        ("convolution", "filter"),
    ),
    "pooling": Term(
        "Pooling",
        "Shrinking feature maps by summarising each small window, e.g. 2×2 → 1.",
        "Max pooling keeps the strongest response of each window, average pooling the mean. "
        "The maps become half as wide and high, keep the same patterns, and matter less "
        "whether a stroke sits one pixel left or right. It also makes the next layers cheaper. "
        "Pooling has nothing to learn.",
        ("feature-map", "convolution"),
    ),
    "activation": Term(
        "Activation function",
        "The simple function a layer applies to each of its sums before passing it on.",
        "Without one, stacking layers would still only compute a weighted sum. CNN Lens lets "
        "you choose relu (the notebook's), tanh, sigmoid and others for conv and hidden dense "
        "layers; the last layer uses softmax. The one-click variants 'tanh' and 'sigmoid' "
        "show how much this choice matters.",
        ("relu", "softmax"),
    ),
    "relu": Term(
        "ReLU",
        "The activation max(0, x): negative values become 0, positive ones pass unchanged.",
        "It is cheap and trains well, which is why the notebook uses it. In the feature maps it "
        "shows as many dark (zero) areas: places where the filter's pattern was absent. tanh "
        "squeezes values into −1…1 and sigmoid into 0…1 instead.",
        ("activation", "feature-map", "dead-filter"),
    ),
    "softmax": Term(
        "Softmax",
        "Turns the last layer's scores into probabilities that add up to 1.",
        "The model's last layer has one unit per class (ten for digits). Softmax makes every "
        "score positive and scales them so they sum to 100%: the bar chart under "
        "'Prediction'. The tallest bar is the model's answer; how tall it is says how sure "
        "the model is.",
        ("activation", "dense", "loss"),
    ),
    "dense": Term(
        "Dense layer",
        "A layer where every unit looks at every input value, each with its own weight.",
        "At the end of a CNN, a dense layer reads the flattened feature maps and weighs all "
        "of them to score each class. Dense layers have many weights: in the notebook's model "
        "the last layer holds most of the 43,530 parameters.",
        ("flatten", "softmax"),
    ),
    "flatten": Term(
        "Flatten",
        "Lays the feature maps out as one long list of numbers, for the dense layer.",
        "32 maps of 11×11 become a vector of 3,872 numbers. Nothing is learned or lost: it only "
        "changes the shape, because a dense layer expects a list, not a grid.",
        ("dense", "feature-map"),
    ),
    "epoch": Term(
        "Epoch",
        "One pass of training over all the training images.",
        "The model sees the images in small batches and adjusts its weights after each batch; "
        "when every image has been seen once, an epoch is over and CNN Lens records the loss "
        "and accuracy. More epochs usually help, until the model starts to memorise the "
        "training images.",
        ("batch", "loss", "validation"),
    ),
    "batch": Term(
        "Batch",
        "The handful of images (32 by default) the model learns from in one step.",
        "After each batch the optimizer nudges the weights. Small batches mean many small, "
        "noisy steps; large ones fewer, smoother steps. The progress bar counts batches.",
        ("epoch", "optimizer"),
    ),
    "optimizer": Term(
        "Optimizer",
        "The rule that changes the weights after each batch so that the loss goes down.",
        "It follows the slope of the loss a small step at a time; the step size is the "
        "learning rate. Adam, the notebook's choice, adapts the step for every weight; plain "
        "SGD uses one step size for all.",
        ("learning-rate", "loss", "batch"),
    ),
    "learning-rate": Term(
        "Learning rate",
        "How big a step the optimizer takes each time it changes the weights.",
        "Too small and training crawls; too large and the loss jumps around or grows. A sweep "
        "over a few learning rates (e.g. 0.0001, 0.001, 0.01) shows this well.",
        ("optimizer",),
    ),
    "loss": Term(
        "Loss",
        "One number that says how wrong the model's probabilities are; lower is better.",
        "CNN Lens uses cross-entropy, as the notebook does: it is small when the model gives "
        "the true class a high probability and grows quickly when it is confidently wrong. "
        "Training is the search for weights that make it small.",
        ("optimizer", "accuracy", "softmax"),
    ),
    "accuracy": Term(
        "Accuracy",
        "The share of images whose most likely class is the true one.",
        "Unlike the loss it ignores how sure the model was. Test accuracy is measured on "
        "images the model never trained on, so it is the fairest score of a run.",
        ("loss", "validation", "confusion-matrix"),
    ),
    "validation": Term(
        "Validation images",
        "Training images held back (10% by default) to check the model during training.",
        "The model never learns from them, so their loss and accuracy show whether it "
        "generalises. If training accuracy keeps rising while validation accuracy stalls or "
        "falls, the model is memorising its training images (overfitting).",
        ("epoch", "accuracy"),
    ),
    "normalisation": Term(
        "Normalisation",
        "Rescaling the input pixels from 0…255 to 0…1 before training.",
        "The notebook divides every pixel by 255. Small, similar-sized inputs keep the first "
        "sums in a range where training is stable; the digits themselves do not change.",
        ("mnist",),
    ),
    "mnist": Term(
        "MNIST",
        "70,000 small gray images of handwritten digits 0–9, 28×28 pixels each.",
        "The classic first dataset for image models, and the notebook's. CNN Lens also ships "
        "a small sample of it (mnist-sample) that trains in seconds, and can use "
        "Fashion-MNIST: clothes instead of digits, in the same format.",
        ("normalisation", "cnn"),
    ),
    "confusion-matrix": Term(
        "Confusion matrix",
        "A table of test images by true class (rows) and predicted class (columns).",
        "The diagonal counts the right answers. Any other cell counts one kind of mistake, e.g. "
        "row 4, column 9: fours taken for nines. It tells which classes the model mixes up, "
        "which accuracy alone cannot.",
        ("accuracy",),
    ),
    "dead-filter": Term(
        "Dead filter",
        "A filter whose feature map is zero (or constant) for every image.",
        "With relu, a filter whose sums are always negative outputs only zeros: it no longer "
        "contributes and cannot learn. CNN Lens marks such maps as 'dead'. A few are common; "
        "many suggest a learning rate that is too high.",
        ("relu", "filter"),
    ),
    "cka": Term(
        "CKA (centred kernel alignment)",
        "A similarity score between 0 and 1 for two layers' responses to the same images.",
        "It compares how two layers, from the same or different runs, arrange a set of images, "
        "without needing their filters to line up one by one. Near 1: the layers 'see' the "
        "images alike; near 0: they represent them differently.",
        ("feature-map",),
    ),
    "aligned-filters": Term(
        "Aligned filters",
        "Two runs' filters paired up so that each is shown next to its closest match.",
        "Two trainings learn similar patterns in a different order, so filter #3 of one run "
        "rarely matches filter #3 of the other. Aligning reorders one run's filters to face "
        "their most similar partners, which makes the comparison meaningful.",
        ("filter", "cka"),
    ),
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
