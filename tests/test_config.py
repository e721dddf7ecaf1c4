"""Run-config validation and shape inference, without TensorFlow."""

import pytest

from shared.config import ConfigError, RunConfig, architecture_summary, parse_config


def fields(data):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    return {e["field"]: e["message"] for e in err.value.errors}


def test_empty_config_is_the_notebook_model():
    config, layers = parse_config({})
    assert config.dataset == "mnist-sample" and config.epochs == 3 and config.batch_size == 32
    assert config.optimizer == "adam" and config.validation_split == 0.1
    assert [tuple(info.output_shape) for info in layers] == [
        (26, 26, 16),
        (13, 13, 16),
        (11, 11, 32),
        (3872,),
        (10,),
    ]
    assert [info.name for info in layers] == [
        "conv2d_1",
        "maxpool2d_1",
        "conv2d_2",
        "flatten_1",
        "dense_1",
    ]
    # Keras counts 160 + 4,640 + 38,730 for this model.
    assert sum(info.params for info in layers) == 43_530
    assert layers[2].kernel_shape == (3, 3, 16, 32)
    assert architecture_summary(config) == "C16k3 → MP2 → C32k3 → F → D10"


def test_one_field_changes_only_that_field():
    config, _ = parse_config({"epochs": 1})
    assert config.model_dump() == RunConfig().model_dump() | {"epochs": 1}


@pytest.mark.parametrize(
    "layers, shapes",
    [
        # 5x5 kernels
        (
            [
                {"type": "conv2d", "filters": 16, "kernel_size": 5},
                {"type": "maxpool2d"},
                {"type": "conv2d", "filters": 32, "kernel_size": 5},
            ],
            [(24, 24, 16), (12, 12, 16), (8, 8, 32)],
        ),
        # padding same and strides
        (
            [
                {"type": "conv2d", "filters": 8, "padding": "same"},
                {"type": "conv2d", "filters": 8, "strides": 2},
            ],
            [(28, 28, 8), (13, 13, 8)],
        ),
        # more conv/pool layers, 64 filters, tanh
        (
            [
                {"type": "conv2d", "filters": 32},
                {"type": "maxpool2d"},
                {"type": "conv2d", "filters": 64, "activation": "tanh"},
                {"type": "avgpool2d"},
                {"type": "conv2d", "filters": 64, "activation": "sigmoid"},
                {"type": "dropout", "rate": 0.5},
            ],
            [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64), (3, 3, 64), (3, 3, 64)],
        ),
    ],
)
def test_notebook_exercises_are_expressible(layers, shapes):
    full = layers + [{"type": "flatten"}, {"type": "dense", "units": 10}]
    _, infos = parse_config({"layers": full})
    assert [tuple(i.output_shape) for i in infos[: len(shapes)]] == shapes


def test_numbers_out_of_range_are_reported_per_field():
    errors = fields(
        {
            "epochs": 10**9,
            "batch_size": 0,
            "learning_rate": -1,
            "layers": [{"type": "conv2d", "filters": 10**6}],
        }
    )
    assert set(errors) >= {"epochs", "batch_size", "learning_rate", "layers.0.filters"}
    assert "at most" in errors["epochs"]


def test_wrong_types_unknown_fields_and_layer_types():
    errors = fields(
        {
            "epochs": "many",
            "colour": "red",
            "dataset": "cifar",
            "layers": [{"type": "lstm"}, {"filters": 3}],
        }
    )
    assert "number" in errors["epochs"]
    assert "not a known setting" in errors["colour"]
    assert "mnist-sample" in errors["dataset"]
    assert "unknown layer type" in errors["layers.0"]
    assert "type" in errors["layers.1"]


def test_feature_map_shrunk_below_one_pixel():
    errors = fields(
        {
            "layers": [
                {"type": "conv2d", "kernel_size": 11},
                {"type": "maxpool2d", "pool_size": 2},
                {"type": "conv2d", "kernel_size": 11},
                {"type": "flatten"},
                {"type": "dense"},
            ]
        }
    )
    assert "does not fit" in errors["layers.2.kernel_size"]
    errors = fields(
        {
            "layers": [
                {"type": "conv2d"},
                {"type": "maxpool2d", "pool_size": 8},
                {"type": "maxpool2d", "pool_size": 8},
                {"type": "flatten"},
                {"type": "dense"},
            ]
        }
    )
    assert "pool" in errors["layers.2.pool_size"]


def test_structure_rules():
    assert "no conv2d" in fields({"layers": [{"type": "flatten"}, {"type": "dense"}]})["layers"]
    assert (
        "softmax"
        in fields(
            {"layers": [{"type": "conv2d"}, {"type": "flatten"}, {"type": "dense", "units": 7}]}
        )["layers.2"]
    )
    assert "flatten" in fields({"layers": [{"type": "conv2d"}, {"type": "dense"}]})["layers.1"]
    assert (
        "image-shaped"
        in fields({"layers": [{"type": "flatten"}, {"type": "conv2d"}, {"type": "dense"}]})[
            "layers.1"
        ]
    )


def test_parameter_budget():
    wide = {"type": "conv2d", "filters": 512, "padding": "same"}
    errors = fields({"layers": [wide, wide, {"type": "flatten"}, {"type": "dense", "units": 10}]})
    assert "budget" in errors["layers"]


def test_non_object_config():
    assert fields([1, 2])["config"].startswith("the run config must be")


def test_default_layers_end_in_one_unit_per_class_of_the_dataset():
    """`{"dataset": "shapes-rgb"}` alone is valid, as `{}` is: the notebook's layers with 8 output
    units; layers that are given are kept and checked as they are."""
    from shared.datasets import DATASETS

    config, infos = parse_config({"dataset": "shapes-rgb"})
    assert config.layers[-1].units == DATASETS["shapes-rgb"].num_classes == 8
    assert infos[0].kernel_shape == (3, 3, 3, 16) and infos[-1].output_shape == (8,)
    assert parse_config({})[0].layers[-1].units == 10
    given = {"type": "dense", "units": 10, "activation": "softmax"}
    with pytest.raises(ConfigError) as refused:
        parse_config(
            {"dataset": "shapes-rgb", "layers": [{"type": "conv2d"}, {"type": "flatten"}, given]}
        )
    assert "must be dense with 8 units" in str(refused.value)
