"""Messages that come from shared/ and dashboard/service/run_actions.py in English, in the page's language.

Validation (shared/config.py) and the service speak English, because the JSON API does and its
messages are read by scripts. The pages translate the messages they show by pattern: each known
English sentence maps to a catalogue key ("msg.<name>") whose {placeholders} receive the parts the
pattern captured. A message no pattern knows is shown as it is, in English.
"""

from __future__ import annotations

import re
from typing import Any

from dashboard.ui.i18n import current_lang, has, t

# (catalogue key, the English sentence as a regular expression with named parts)
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (key, re.compile(f"^{pattern}$"))
    for key, pattern in (
        ("msg.unknown_setting", r"is not a known setting"),
        ("msg.unknown_layer", r"unknown layer type; use one of: (?P<types>.+)"),
        ("msg.layer_needs_type", r"each layer needs a 'type': one of (?P<types>.+)"),
        ("msg.one_of", r"must be one of (?P<choices>.+)"),
        ("msg.at_least", r"must be at least (?P<n>\S+)"),
        ("msg.more_than", r"must be more than (?P<n>\S+)"),
        ("msg.at_most_chars", r"must be at most (?P<n>\d+) characters"),
        ("msg.at_most", r"must be at most (?P<n>\S+)"),
        ("msg.less_than", r"must be less than (?P<n>\S+)"),
        ("msg.list", r"must be a list \(a JSON array\)"),
        ("msg.object", r"must be an object \(a JSON object with named settings\)"),
        ("msg.text", r"must be text \(a JSON string\)"),
        ("msg.max_entries", r"must have at most (?P<n>\d+) entries"),
        ("msg.min_entries", r"must have at least (?P<n>\d+) entries"),
        ("msg.whole_number", r"must be a number \(a whole number\)"),
        ("msg.number", r"must be a number"),
        (
            "msg.needs_image",
            r"a (?P<kind>\w+) layer needs an image-shaped input, but it comes after flatten, "
            r"global pooling or dense; move it before them",
        ),
        (
            "msg.kernel_too_big",
            r"a (?P<k>\d+)×\d+ kernel does not fit the (?P<h>\d+)×(?P<w>\d+) input it gets here; "
            r"use a smaller kernel, padding 'same', or fewer pooling layers before it",
        ),
        (
            "msg.pool_too_big",
            r"pooling (?P<p>\d+)×\d+ needs at least that much input, but the feature map here is "
            r"only (?P<h>\d+)×(?P<w>\d+)",
        ),
        (
            "msg.dense_needs_flat",
            r"a dense layer needs a flat input: add a flatten layer before it",
        ),
        (
            "msg.no_conv",
            r"the model has no conv2d layer; CNN Lens needs at least one to show filters and "
            r"feature maps",
        ),
        (
            "msg.last_layer",
            r"the last layer must be dense with (?P<n>\d+) units and softmax activation, one "
            r"output per class of (?P<dataset>\S+)",
        ),
        (
            "msg.over_budget",
            r"the model has (?P<total>[\d,]+) parameters, over the budget of (?P<budget>[\d,]+); "
            r"use fewer filters or units, or pool before flatten",
        ),
        (
            "msg.name_control",
            r"the name may not contain control characters such as tabs or newlines",
        ),
        (
            "msg.queue_offline",
            r"the task queue is not reachable now; the run will start when it is back",
        ),
        (
            "msg.different_datasets",
            r"the runs were trained on different datasets \((?P<a>\S+) and (?P<b>\S+)\); layer "
            r"similarity is measured on the same test images, so choose two runs on one dataset",
        ),
        (
            "msg.no_model_yet",
            r"run (?P<name>'.*'|\".*\") has no trained model yet \(it is (?P<status>\w+)\)",
        ),
        (
            "msg.no_test_images",
            r"the test images of (?P<dataset>\S+) are not on this machine: (?P<reason>.+)",
        ),
        ("msg.not_valid", r"is not valid"),
    )
)

# Top-level config fields, as the form labels them.
FIELD_KEYS = {
    "name": "form.name",
    "dataset": "form.dataset",
    "epochs": "form.epochs",
    "batch_size": "form.batch_size",
    "optimizer": "form.optimizer",
    "learning_rate": "form.learning_rate",
    "validation_split": "form.validation_split",
    "seed": "form.seed",
    "train_limit": "form.train_limit",
    "tags": "run.edit.tags",
    "notes": "run.edit.notes",
    "layers": "form.layers",
}


def message(text: str) -> str:
    """One English message from validation or the service, in the current language."""
    if current_lang() == "en":
        return text
    for key, pattern in PATTERNS:
        match = pattern.match(text)
        if match:
            values = match.groupdict()
            if has(f"status.{values.get('status')}"):  # a run state, in the page's words
                values["status"] = t(f"status.{values['status']}")
            return t(key, **values)
    return text


def field_label(field: str) -> str:
    """'learning_rate' → the form's label for it; 'layers.2.filters' → 'capa 3 · filters'."""
    parts = field.split(".")
    if parts[0] == "layers" and len(parts) > 1 and parts[1].isdigit():
        where = t("form.layer_n", n=int(parts[1]) + 1)
        if len(parts) > 2:
            return f"{where} · {t(f'layer.param.{parts[2]}')}"
        return where
    key = FIELD_KEYS.get(parts[0])
    return t(key) if key else field


def config_errors_text(errors: list[dict[str, Any]]) -> str:
    """A ConfigError's list as one line: 'field: message; field: message'."""
    return "; ".join(
        f"{field_label(str(e.get('field', '')))}: {message(str(e.get('message', '')))}"
        for e in errors
    )
