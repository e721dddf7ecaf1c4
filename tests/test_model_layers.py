"""The layers real models use (issue 12, item 4): batchnorm, global pooling, an activation layer
and the activations beyond relu/tanh/sigmoid. The shapes and parameter counts shared/config.py
computes without TensorFlow are held against Keras' own, and a tiny model with all of them trains,
stores its probe activations and answers an extraction."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from shared.artifacts import FILTERS_DIR, PROBE_DIR  # noqa: E402
from shared.config import architecture_summary, parse_config  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import RunStore  # noqa: E402
from worker.model import build_model  # noqa: E402
from worker.training import train_run  # noqa: E402

CONV = {"type": "conv2d", "filters": 8, "kernel_size": 3}
MODELS = {
    "bn-after-conv": [
        CONV | {"activation": "linear"},
        {"type": "batchnorm"},
        {"type": "activation", "activation": "relu"},
        {"type": "maxpool2d"},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "global-average": [
        CONV | {"activation": "leaky_relu"},
        {"type": "conv2d", "filters": 12, "kernel_size": 3, "activation": "elu", "padding": "same"},
        {"type": "globalavgpool2d"},
        {"type": "dense", "units": 10},
    ],
    "global-max-bn-dense": [
        CONV | {"activation": "gelu", "strides": 2},
        {"type": "batchnorm", "momentum": 0.9, "epsilon": 1e-5},
        {"type": "globalmaxpool2d"},
        {"type": "batchnorm"},
        {"type": "dense", "units": 16, "activation": "swish"},
        {"type": "dropout", "rate": 0.1},
        {"type": "dense", "units": 10},
    ],
}


def keras_reference(layers: list[dict]) -> keras.Model:
    """The same model written the way a notebook would, without CNN Lens' builder."""
    kinds = {
        "conv2d": lambda s: keras.layers.Conv2D(
            s["filters"],
            s["kernel_size"],
            strides=s.get("strides", 1),
            padding=s.get("padding", "valid"),
            activation=s.get("activation", "relu"),
        ),
        "batchnorm": lambda s: keras.layers.BatchNormalization(
            momentum=s.get("momentum", 0.99), epsilon=s.get("epsilon", 0.001)
        ),
        "activation": lambda s: keras.layers.Activation(s["activation"]),
        "maxpool2d": lambda s: keras.layers.MaxPooling2D(2),
        "globalavgpool2d": lambda s: keras.layers.GlobalAveragePooling2D(),
        "globalmaxpool2d": lambda s: keras.layers.GlobalMaxPooling2D(),
        "flatten": lambda s: keras.layers.Flatten(),
        "dropout": lambda s: keras.layers.Dropout(s["rate"]),
        "dense": lambda s: keras.layers.Dense(
            s["units"], activation=s.get("activation", "softmax")
        ),
    }
    return keras.Sequential(
        [keras.Input((28, 28, 1)), *(kinds[layer["type"]](layer) for layer in layers)]
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_and_parameters_match_keras(name):
    config, infos = parse_config({"layers": MODELS[name]})
    reference = keras_reference(MODELS[name])
    built = build_model(config, infos)  # raises ModelMismatch if a shape differs from the schema
    assert sum(i.params for i in infos) == reference.count_params() == built.count_params()
    for info, layer in zip(infos, reference.layers, strict=True):
        assert info.output_shape == tuple(layer.output.shape[1:]), info.name
        assert info.params == layer.count_params(), info.name
    for info in infos:
        if info.type == "batchnorm":
            layer = built.get_layer(info.name)
            channels = info.output_shape[-1]
            assert info.params == 4 * channels
            assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == 2 * channels
        assert built.get_layer(info.name).output.shape[1:] == info.output_shape


def test_layer_names_and_summary():
    _, infos = parse_config({"layers": MODELS["global-max-bn-dense"]})
    assert [i.name for i in infos] == [
        "conv2d_1",
        "batchnorm_1",
        "globalmaxpool2d_1",
        "batchnorm_2",
        "dense_1",
        "dropout_1",
        "dense_2",
    ]
    config, _ = parse_config({"layers": MODELS["bn-after-conv"]})
    assert architecture_summary(config) == "C8k3 linear → BN → A relu → MP2 → F → D10"


def test_a_model_with_the_new_layers_trains_and_stores_every_layer(tmp_path: Path):
    settings = Settings(
        CNNLENS_DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'test.sqlite3'}"
    )
    store = RunStore(settings).init()
    layers = [
        CONV | {"activation": "linear"},
        {"type": "batchnorm"},
        {"type": "activation", "activation": "swish"},
        {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "leaky_relu"},
        {"type": "globalavgpool2d"},
        {"type": "dense", "units": 10},
    ]
    config, infos = parse_config(
        {"layers": layers, "epochs": 1, "train_limit": 200, "batch_size": 32}
    )
    run_id = store.create_run(config, infos)["id"]
    assert train_run(store, run_id, "test-owner") == "succeeded"
    run = store.get_run(run_id)
    assert run is not None and 0.0 <= run["test"]["accuracy"] <= 1.0
    for info in infos:
        probe = store.files.load_array(run_id, f"{PROBE_DIR}/{info.name}.npy")
        assert probe is not None and probe.shape[1:] == info.output_shape, info.name
        assert np.isfinite(probe.astype(np.float32)).all()
    assert store.files.list(run_id, FILTERS_DIR) == ["conv2d_1.npy", "conv2d_2.npy", "epochs"]
