"""Validation counts activations, not only parameters (issue 11, item 2).

`conv2d(512, k=1, same)` followed by 21 dropouts has only 4 million parameters but makes 9.2
million activation values per image: extraction, the probe set and analysis jobs hold them all. The
budget is per image (summed over the layers) and per training batch (that sum times the batch).
"""

from __future__ import annotations

import math

import pytest

from shared import comparison
from shared.config import (
    ACTIVATION_BUDGET,
    BATCH_ACTIVATION_BUDGET,
    ConfigError,
    activation_values,
    parse_config,
)

WIDE = {"type": "conv2d", "filters": 512, "kernel_size": 1, "padding": "same"}
ISSUE_EXAMPLE = {
    "layers": [WIDE, *[{"type": "dropout", "rate": 0}] * 21, {"type": "flatten"}]
    + [{"type": "dense", "units": 10, "activation": "softmax"}],
    "train_limit": 10,
}


def refusal(data, **budgets) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        parse_config(data, **budgets)
    return {e["field"]: e["message"] for e in err.value.errors}


def test_the_issues_example_is_refused_naming_the_layer_that_crosses_the_budget():
    errors = refusal(ISSUE_EXAMPLE)
    # 28×28×512 = 401,408 values a layer: the third layer (dropout_2) takes the sum past 1,000,000.
    assert list(errors) == ["layers.2"]
    message = errors["layers.2"]
    assert "dropout_2" in message and "1,204,224" in message and "9,232,394 in all" in message
    assert f"{ACTIVATION_BUDGET:,}" in message


def test_a_training_batch_is_held_to_the_sum_times_the_batch_size():
    # 28×28×64 per 'same' conv: 50,176 a layer, 200,704 a picture after four of them
    conv = {"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": "same"}
    config = {"layers": [conv] * 4 + [{"type": "flatten"}, {"type": "dense", "units": 10}]}
    _, infos = parse_config(config | {"batch_size": 32})
    per_image = activation_values(infos)
    assert per_image < ACTIVATION_BUDGET and per_image * 32 < BATCH_ACTIVATION_BUDGET
    errors = refusal(config | {"batch_size": 2048})
    (field, message), *_ = errors.items()
    assert field.startswith("layers.") and "batch of 2048 images" in message
    assert "smaller batch_size" in message
    # A train_limit below the batch size is the largest batch training ever sees.
    parse_config(config | {"batch_size": 2048, "train_limit": 100})


def test_the_notebook_model_fits_even_at_the_largest_batch():
    _, infos = parse_config({"batch_size": 4096})
    assert activation_values(infos) == 26 * 26 * 16 + 13 * 13 * 16 + 11 * 11 * 32 * 2 + 10


def test_budgets_come_from_the_caller():
    errors = refusal({}, activation_budget=10_000)
    assert "conv2d_1" in errors["layers.0"]
    parse_config(ISSUE_EXAMPLE, activation_budget=10_000_000, batch_activation_budget=10**9)


def test_analysis_sizes_its_probe_batch_from_every_layer_it_holds():
    """A job holds all layers' float32 outputs for the whole batch: size the batch by that sum."""
    _, infos = parse_config(
        {
            "layers": [{"type": "conv2d", "filters": 64, "kernel_size": 3, "padding": "same"}]
            + [{"type": "dropout", "rate": 0}] * 15
            + [{"type": "flatten"}, {"type": "dense", "units": 10}]
        }
    )
    widest = max(math.prod(i.output_shape) for i in infos)
    total = activation_values(infos)
    count = comparison.probe_batch_size(10_000, total)
    assert count * total * 4 <= 200 * 2**20  # under 200 MB of float32 for one run's layers
    assert count < comparison.probe_batch_size(10_000, widest)
    _, notebook = parse_config({})
    both = 2 * activation_values(notebook)
    assert comparison.probe_batch_size(10_000, both) == comparison.PROBE_BATCH  # unchanged


def test_a_model_at_the_budget_keeps_analysis_memory_bounded():
    count = comparison.probe_batch_size(10_000, 2 * ACTIVATION_BUDGET)  # CKA of two such runs
    assert count == comparison.MIN_PROBE_BATCH
    assert count * 2 * ACTIVATION_BUDGET * 4 <= 400 * 2**20
