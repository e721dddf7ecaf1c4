"""Batchnorm, global pooling and the activation layer in the schema and the layer editor (no TF)."""

from __future__ import annotations

import pytest

from dashboard.ui import explanations, layer_editor, layer_preview
from shared.config import ConfigError, parse_config


def test_global_pooling_feeds_dense_without_flatten():
    _, infos = parse_config(
        {
            "layers": [
                {"type": "conv2d", "filters": 20},
                {"type": "batchnorm"},
                {"type": "globalavgpool2d"},
                {"type": "dense", "units": 10},
            ]
        }
    )
    assert [(i.name, i.output_shape, i.params) for i in infos] == [
        ("conv2d_1", (26, 26, 20), 200),
        ("batchnorm_1", (26, 26, 20), 80),
        ("globalavgpool2d_1", (20,), 0),
        ("dense_1", (10,), 210),
    ]


def test_image_layers_after_global_pooling_are_refused_in_a_sentence():
    with pytest.raises(ConfigError) as err:
        parse_config(
            {
                "layers": [
                    {"type": "conv2d"},
                    {"type": "globalmaxpool2d"},
                    {"type": "globalavgpool2d"},
                    {"type": "dense", "units": 10},
                ]
            }
        )
    assert err.value.errors == [
        {
            "field": "layers.2",
            "message": "a globalavgpool2d layer needs an image-shaped input, but it comes after "
            "flatten, global pooling or dense; move it before them",
        }
    ]


def test_a_bad_activation_is_reported_on_its_parameter():
    # "activation" is a layer type and a parameter: the path keeps the parameter.
    with pytest.raises(ConfigError) as err:
        parse_config({"layers": [{"type": "conv2d"}, {"type": "activation", "activation": "x"}]})
    assert [e["field"] for e in err.value.errors] == ["layers.1.activation"]
    with pytest.raises(ConfigError) as err:
        parse_config({"layers": [{"type": "conv2d", "activation": "mish"}]})
    assert [e["field"] for e in err.value.errors] == ["layers.0.activation"]


def test_new_layers_go_where_they_fit():
    config = layer_editor.default_config()  # conv, pool, conv, flatten, dense
    with_gap = layer_editor.add_layer(config, "globalavgpool2d")
    assert [layer["type"] for layer in with_gap["layers"]] == [
        "conv2d",
        "maxpool2d",
        "conv2d",
        "flatten",
        "globalavgpool2d",
        "dense",
    ]
    no_flatten = layer_editor.remove_layer(with_gap, 3)
    conv_again = layer_editor.add_layer(no_flatten, "conv2d")
    assert [layer["type"] for layer in conv_again["layers"]][3:] == [
        "conv2d",
        "globalavgpool2d",
        "dense",
    ]
    with_bn = layer_editor.add_layer(config, "batchnorm")
    assert with_bn["layers"][-2] == {"type": "batchnorm", "momentum": 0.99, "epsilon": 0.001}
    assert layer_editor.add_layer(config, "activation")["layers"][-2] == {
        "type": "activation",
        "activation": "relu",
    }


def test_preview_rows_and_captions_cover_the_new_layers():
    config = layer_editor.default_config()
    config["layers"] = [
        {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "linear"},
        {"type": "batchnorm", "momentum": 0.9, "epsilon": 0.001},
        {"type": "activation", "activation": "leaky_relu"},
        {"type": "globalmaxpool2d"},
        {"type": "dense", "units": 10, "activation": "softmax"},
    ]
    rows = layer_preview.preview_rows(config)
    assert [r["name"] for r in rows[1:]] == [
        "conv2d_1",
        "batchnorm_1",
        "activation_1",
        "globalmaxpool2d_1",
        "dense_1",
    ]
    assert [r["params"] for r in rows[1:]] == [80, 32, 0, 0, 90]
    assert rows[3]["what"] == "leaky_relu"
    assert layer_preview.total_params(config) == 202
    for kind, shape in (
        ("batchnorm", (26, 26, 8)),
        ("activation", (26, 26, 8)),
        ("globalavgpool2d", (8,)),
        ("globalmaxpool2d", (8,)),
    ):
        text = "".join(str(p) for p in explanations.layer_caption(kind, shape, {"type": kind}))
        assert "8" in text or kind == "activation", kind
        assert "{" not in text, kind
