"""A `.keras` file trained elsewhere, read as data: what model it describes, in CNN Lens' schema.

A `.keras` file is a zip archive of `config.json` (the architecture, as JSON), `model.weights.h5`
(the weights, HDF5) and `metadata.json`. Handing `config.json` to Keras' deserializer would let
the file choose which classes are built and with what arguments (a Lambda layer carries Python
bytecode), so it is never done: this module reads the zip with bounded sizes, parses the JSON
itself and maps each layer onto the layer schema of `shared.config`, refusing, with a sentence
that names the layer, anything it cannot map exactly. The worker then builds that architecture
with its own builder (`worker/model.py`) and copies in the weights as plain arrays
(`worker/model_import.py`). No TensorFlow and no h5py here: the dashboard refuses what it can
before anything is stored or queued.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

CONFIG_ENTRY = "config.json"
WEIGHTS_ENTRY = "model.weights.h5"
METADATA_ENTRY = "metadata.json"
ENTRIES = (CONFIG_ENTRY, WEIGHTS_ENTRY, METADATA_ENTRY)
SUFFIX = ".keras"

MAX_FILE_BYTES = 64 * 1024 * 1024  # the .keras file as sent (the request body limit is lower)
MAX_CONFIG_BYTES = 1024 * 1024  # config.json of a 24-layer model is ~30 KB
MAX_METADATA_BYTES = 64 * 1024
MAX_LAYERS = 64  # Keras layers in config.json; the schema allows 24 CNN Lens layers
MAX_JSON_DEPTH = 40
# The weights file holds every variable (4 bytes per parameter as float32), the optimizer's
# state when the model was compiled (Adam keeps two more copies of the trained ones) and HDF5's
# own bookkeeping (a few KB per array).
WEIGHTS_COPIES = 4
WEIGHTS_SLACK = 2 * 1024 * 1024

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
SAVE_HINT = "save the model with model.save('model.keras') (Keras 3)"

# Keras' activation names → the schema's ("swish" is saved under its other name, "silu").
ACTIVATIONS = {
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "elu": "elu",
    "selu": "selu",
    "gelu": "gelu",
    "leaky_relu": "leaky_relu",
    "silu": "swish",
    "swish": "swish",
    "linear": "linear",
    "softmax": "softmax",
}
# Settings that only matter while training (or are saved for the record): never read.
IGNORED_KEYS = {"name", "trainable", "dtype", "seed", "activity_regularizer", "renorm_momentum"}
IGNORED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}
MODEL_CLASSES = {"Sequential", "Functional", "Model"}


class ArchiveRefused(Exception):
    """The file cannot be imported; the message says what was refused and why. `status` is the
    HTTP status the API answers with (413 for sizes, 422 otherwise)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImportedLayer:
    """One CNN Lens layer and the layer of the archive whose weights it takes (None: no weights
    are read for it, e.g. an activation folded into the dense layer before it)."""

    source: str | None
    keras_class: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class ArchivePlan:
    """What config.json describes, in the schema: the input shape and the layers."""

    model_name: str
    input_shape: tuple[int, ...]
    layers: list[ImportedLayer]
    keras_version: str | None = None
    weights_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def layer_specs(self) -> list[dict[str, Any]]:
        return [layer.spec for layer in self.layers]

    def sources(self) -> list[str | None]:
        return [layer.source for layer in self.layers]


def weights_limit(params: int) -> int:
    """The largest weights file a model of `params` parameters may come with."""
    return WEIGHTS_COPIES * 4 * params + WEIGHTS_SLACK


# --- the zip -------------------------------------------------------------------------------
def sniff(data: bytes, filename: str = "") -> None:
    """Refuse what is not a zip archive, saying what it looks like instead."""
    shown = f"'{filename}'" if filename else "the file"
    if data.startswith(HDF5_SIGNATURE):
        raise ArchiveRefused(
            f"{shown} is an HDF5 file (a legacy .h5 model or a bare weights file), not a .keras "
            f"archive; CNN Lens imports only .keras files: {SAVE_HINT}"
        )
    if len(data) > 1 and data[0] == 0x80 and 2 <= data[1] <= 5:
        raise ArchiveRefused(
            f"{shown} looks like a Python pickle; a pickle can run code when it is loaded, so it "
            f"is never opened here: {SAVE_HINT}"
        )
    if not data.startswith(ZIP_SIGNATURE):
        raise ArchiveRefused(
            f"{shown} is not a .keras archive (a zip file holding config.json and "
            f"model.weights.h5): {SAVE_HINT}"
        )


def open_zip(data: bytes, filename: str = "") -> zipfile.ZipFile:
    """The archive, after checking its entries (names, count, sizes as declared, no encryption)."""
    if len(data) > MAX_FILE_BYTES:
        raise ArchiveRefused(
            f"the file is {len(data):,} bytes; models up to {MAX_FILE_BYTES:,} bytes are imported",
            413,
        )
    sniff(data, filename)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise ArchiveRefused(
            "the file starts like a zip archive but cannot be read as one (truncated or damaged?)"
        ) from None
    names = [info.filename for info in infos]
    if len(infos) > len(ENTRIES) or len(set(names)) != len(names):
        raise ArchiveRefused(
            f"the archive holds {len(infos)} entries ({_listed(names)}); a .keras file holds "
            f"only {', '.join(ENTRIES)}, each once"
        )
    for info in infos:
        if info.filename not in ENTRIES:
            raise ArchiveRefused(
                f"the archive holds {_quoted(info.filename)}, which a .keras file of supported "
                f"layers never has; it holds only {', '.join(ENTRIES)}"
            )
        if info.flag_bits & 0x1:
            raise ArchiveRefused(f"{info.filename} in the archive is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArchiveRefused(
                f"{info.filename} in the archive is compressed with a method CNN Lens does not "
                "read (only stored or deflated, as Keras writes)"
            )
    for required in (CONFIG_ENTRY, WEIGHTS_ENTRY):
        if required not in names:
            raise ArchiveRefused(f"the archive has no {required}; {SAVE_HINT}")
    return archive


def read_entry(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One entry, decompressed, refusing it once it passes `limit` bytes (whatever it declares:
    a zip bomb is cut off after `limit` bytes of output, never inflated in full)."""
    info = archive.getinfo(name)
    too_big = ArchiveRefused(
        f"{name} in the archive is larger than {limit:,} bytes once unpacked; "
        "that is more than a model CNN Lens can hold would need",
        413,
    )
    if info.file_size > limit:
        raise too_big
    try:
        with archive.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError):
        raise ArchiveRefused(f"{name} in the archive is damaged and cannot be unpacked") from None
    if len(data) > limit:
        raise too_big
    return data


def _listed(names: list[str]) -> str:
    shown = ", ".join(_quoted(n) for n in names[:5])
    return shown + (", …" if len(names) > 5 else "")


def _kind(value: Any) -> str:
    """A class name as it may be shown: letters, digits and a few signs, at most 40."""
    return re.sub(r"[^A-Za-z0-9_.>]", "?", str(value))[:40]


def _quoted(text: Any) -> str:
    text = str(text)
    text = re.sub(r"[\x00-\x1f\x7f]", "?", text)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _json(data: bytes, what: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveRefused(f"{what} in the archive is not UTF-8 text") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise ArchiveRefused(f"{what} in the archive is nested too deeply") from None
    except ValueError as exc:
        raise ArchiveRefused(f"{what} in the archive is not valid JSON ({exc})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ArchiveRefused(f"{what} in the archive is nested too deeply")
    return value


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return depth
        nxt: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                nxt.extend(item.values())
            elif isinstance(item, list):
                nxt.extend(item)
        level = nxt
    return depth - 1


# --- config.json -> layers ------------------------------------------------------------------
def read_plan(data: bytes, filename: str = "") -> ArchivePlan:
    """Check the file and map its config.json onto the schema. Raises ArchiveRefused."""
    if filename and not filename.lower().endswith(SUFFIX):
        raise ArchiveRefused(
            f"{_quoted(filename)} is not a .keras file; send the file model.save('model.keras') "
            "wrote (Keras 3)"
        )
    archive = open_zip(data, filename)
    config = _json(read_entry(archive, CONFIG_ENTRY, MAX_CONFIG_BYTES), CONFIG_ENTRY)
    version = None
    if METADATA_ENTRY in archive.namelist():
        metadata = _json(read_entry(archive, METADATA_ENTRY, MAX_METADATA_BYTES), METADATA_ENTRY)
        if isinstance(metadata, dict) and isinstance(metadata.get("keras_version"), str):
            version = metadata["keras_version"][:40]
    plan = plan_layers(config)
    weights = archive.getinfo(WEIGHTS_ENTRY).file_size
    return ArchivePlan(plan.model_name, plan.input_shape, plan.layers, version, weights)


def check_weights_size(plan: ArchivePlan, params: int) -> None:
    """Oversized weights are refused from the zip's directory, before anything is unpacked."""
    limit = weights_limit(params)
    if plan.weights_bytes > limit:
        raise ArchiveRefused(
            f"{WEIGHTS_ENTRY} is {plan.weights_bytes:,} bytes, but a model of {params:,} "
            f"parameters needs at most {limit:,}; the file holds more than its layers",
            413,
        )


def _check_builtin(obj: dict[str, Any], what: str) -> None:
    """Refuse objects registered by user code (custom layers, models, functions)."""
    module = obj.get("module")
    registered = obj.get("registered_name")
    class_name = obj.get("class_name")
    builtin = isinstance(module, str) and (module == "keras" or module.startswith("keras."))
    if not builtin or registered not in (None, class_name):
        name = registered if isinstance(registered, str) else class_name
        raise ArchiveRefused(
            f"{what} is a custom object ({_quoted(name)}, from module {_quoted(module)}); "
            "its code would have to run to build it, and CNN Lens never runs code from a file"
        )


def plan_layers(config: Any) -> ArchivePlan:
    """Map a parsed config.json onto the schema's layers, or raise ArchiveRefused."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ArchiveRefused(f"{CONFIG_ENTRY} does not describe a Keras model; {SAVE_HINT}")
    kind = config.get("class_name")
    if kind not in MODEL_CLASSES:
        _check_builtin(config, "the model")
        raise ArchiveRefused(
            f"the model is a {_quoted(kind)}; only Sequential models and Functional models "
            "whose layers form one chain can be imported"
        )
    _check_builtin(config, "the model")
    inner = config["config"]
    layers = inner.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ArchiveRefused(f"{CONFIG_ENTRY} lists no layers")
    if len(layers) > MAX_LAYERS:
        raise ArchiveRefused(
            f"the model has {len(layers)} layers; CNN Lens reads models of up to {MAX_LAYERS}"
        )
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise ArchiveRefused(f"layer {i + 1} in {CONFIG_ENTRY} is not a layer description")
    model_name = str(inner.get("name") or "model")[:60]
    if kind == "Sequential":
        input_shape, body = _sequential_input(inner, layers)
    else:
        input_shape, body = _functional_chain(inner, layers)
    mapped = _map_layers(body, len(input_shape))
    return ArchivePlan(model_name, input_shape, _fold_softmax(mapped))


def _layer_name(layer: dict[str, Any]) -> str:
    return str(layer.get("config", {}).get("name") or layer.get("name") or "?")


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) < 2 or value[0] is not None:
        raise ArchiveRefused(f"{where} does not give the input shape as (None, height, width, …)")
    dims = value[1:]
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 100_000 for d in dims):
        raise ArchiveRefused(
            f"{where} gives the input shape {_quoted(value)}; every size must be a fixed "
            "whole number (images of any size cannot be imported)"
        )
    return tuple(dims)


def _input_layer(layer: dict[str, Any]) -> tuple[int, ...]:
    cfg = layer["config"]
    name = _quoted(_layer_name(layer))
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    _options(cfg, f"the input layer {name}", {"batch_shape", "batch_input_shape"})
    return _shape(shape, f"the input layer {name}")


def _sequential_input(
    inner: dict[str, Any], layers: list[dict[str, Any]]
) -> tuple[tuple[int, ...], list[dict[str, Any]]]:
    if layers[0].get("class_name") == "InputLayer":
        _check_builtin(layers[0], f"layer {_quoted(_layer_name(layers[0]))}")
        return _input_layer(layers[0]), layers[1:]
    if inner.get("build_input_shape") is not None:
        return _shape(inner["build_input_shape"], "the model's build_input_shape"), layers
    raise ArchiveRefused(
        "the model does not say what input it takes (it was never built); give it "
        "keras.Input(shape=...) as its first layer and save it again"
    )


def _history(tensor: Any) -> str | None:
    """The layer a Keras-3 tensor reference comes from."""
    if not isinstance(tensor, dict) or tensor.get("class_name") != "__keras_tensor__":
        return None
    history = (tensor.get("config") or {}).get("keras_history")
    if isinstance(history, list) and len(history) == 3 and history[1:] == [0, 0]:
        return str(history[0])
    return None


def _endpoint(value: Any) -> str | None:
    """input_layers / output_layers: ["name", 0, 0] or [["name", 0, 0]]."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if isinstance(value, list) and len(value) == 3 and value[1:] == [0, 0]:
        return str(value[0])
    return None


def _functional_chain(
    inner: dict[str, Any], layers: list[dict[str, Any]]
) -> tuple[tuple[int, ...], list[dict[str, Any]]]:
    first = layers[0]
    if first.get("class_name") != "InputLayer":
        raise ArchiveRefused("the Functional model does not start with an input layer")
    _check_builtin(first, f"layer {_quoted(_layer_name(first))}")
    names = [_layer_name(layer) for layer in layers]
    if _endpoint(inner.get("input_layers")) != names[0]:
        raise ArchiveRefused(
            "the Functional model has more than one input, or its input is not its first "
            "layer; only models whose layers form one chain can be imported"
        )
    if _endpoint(inner.get("output_layers")) != names[-1]:
        raise ArchiveRefused(
            "the Functional model has more than one output, or its output is not its last "
            "layer; only models whose layers form one chain can be imported"
        )
    if layers[0].get("inbound_nodes"):
        raise ArchiveRefused(f"the input layer {_quoted(names[0])} takes an input itself")
    for previous, layer, name in zip(names, layers[1:], names[1:], strict=False):
        nodes = layer.get("inbound_nodes")
        where = f"layer {_quoted(name)} ({_kind(layer.get('class_name'))})"
        if not isinstance(nodes, list) or len(nodes) != 1:
            count = len(nodes) if isinstance(nodes, list) else 0
            raise ArchiveRefused(
                f"{where} is called {count} times (a shared or unused layer); only models whose "
                "layers form one chain, each used once, can be imported"
            )
        node = nodes[0]
        args = node.get("args") if isinstance(node, dict) else None
        kwargs = node.get("kwargs") if isinstance(node, dict) else None
        if not isinstance(args, list) or len(args) != 1 or _history(args[0]) is None:
            raise ArchiveRefused(
                f"the model branches or merges at {where}: it takes more than one input; only "
                "models whose layers form one chain can be imported"
            )
        source = _history(args[0])
        if source != previous:
            raise ArchiveRefused(
                f"the model branches at {where}: it takes its input from {_quoted(source)}, not "
                f"from the layer before it ({_quoted(previous)}); only models whose layers form "
                "one chain can be imported"
            )
        extra = {k: v for k, v in (kwargs or {}).items() if v not in (None, False)}
        if extra:
            raise ArchiveRefused(
                f"{where} is called with arguments CNN Lens does not pass "
                f"({', '.join(sorted(str(k) for k in extra))})"
            )
    return _input_layer(first), layers[1:]


def _options(cfg: dict[str, Any], where: str, handled: set[str]) -> None:
    """Every setting not handled must be one that only training reads, or off (None/False)."""
    dtype = cfg.get("dtype")
    policy = (dtype.get("config") or {}).get("name") if isinstance(dtype, dict) else dtype
    if policy not in (None, "float32"):
        raise ArchiveRefused(
            f"{where} computes in {_quoted(policy)}; CNN Lens imports float32 models only"
        )
    for key, value in cfg.items():
        if key in handled or key in IGNORED_KEYS or key.endswith(IGNORED_SUFFIXES):
            continue
        if value is None or value is False:
            continue
        raise ArchiveRefused(
            f"{where} sets {key}={_quoted(json.dumps(value)[:40])}, which CNN Lens cannot build"
        )


def _square(value: Any, where: str, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        if value[0] != value[1]:
            raise ArchiveRefused(
                f"{where} has a {value[0]}×{value[1]} {what}; CNN Lens builds square ones only"
            )
        return int(value[0])
    raise ArchiveRefused(f"{where} gives its {what} as {_quoted(value)}")


def _expect(cfg: dict[str, Any], key: str, allowed: tuple[Any, ...], where: str) -> None:
    if key in cfg and cfg[key] not in allowed:
        raise ArchiveRefused(
            f"{where} sets {key}={_quoted(json.dumps(cfg[key])[:40])}; CNN Lens builds only "
            f"{key}={json.dumps(allowed[0])}"
        )


def _activation(value: Any, where: str) -> str:
    if isinstance(value, dict):
        _check_builtin(value, f"the activation of {where}")
        value = value.get("config") if value.get("class_name") == "function" else None
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in ACTIVATIONS:
        offered = ", ".join(sorted(set(ACTIVATIONS.values())))
        raise ArchiveRefused(
            f"{where} uses the activation {_quoted(value)}, which CNN Lens does not offer "
            f"(it offers {offered})"
        )
    return ACTIVATIONS[value]


def _map_layers(layers: list[dict[str, Any]], rank: int) -> list[ImportedLayer]:
    out: list[ImportedLayer] = []
    for layer in layers:
        kind = layer.get("class_name")
        name = _layer_name(layer)
        where = f"layer {_quoted(name)} ({_kind(kind)})"
        if kind in CODE_LAYERS:
            raise ArchiveRefused(
                f"{where} is a Lambda layer: it carries Python code, and CNN Lens never runs "
                "code from a file; rewrite it with built-in layers"
            )
        _check_builtin(layer, where)
        if kind in MODEL_CLASSES:
            raise ArchiveRefused(f"{where} is a model inside the model; flatten it into one chain")
        cfg = layer["config"]
        spec = _map_layer(str(kind), cfg, where, rank)
        if spec["type"] in ("flatten", "globalavgpool2d", "globalmaxpool2d"):
            rank = 1
        out.append(ImportedLayer(name, str(kind), spec))
    return out


def _map_layer(kind: str, cfg: dict[str, Any], where: str, rank: int) -> dict[str, Any]:
    channels_last = ("channels_last", None)
    if kind == "Conv2D":
        _options(
            cfg,
            where,
            {"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate"}
            | {"groups", "activation", "use_bias"},
        )
        _expect(cfg, "data_format", channels_last, where)
        _expect(cfg, "groups", (1,), where)
        _expect(cfg, "use_bias", (True,), where)
        if _square(cfg.get("dilation_rate", 1), where, "dilation rate") != 1:
            raise ArchiveRefused(f"{where} is dilated; CNN Lens builds dilation_rate=1 only")
        return {
            "type": "conv2d",
            "filters": cfg.get("filters"),
            "kernel_size": _square(cfg.get("kernel_size"), where, "kernel"),
            "strides": _square(cfg.get("strides", 1), where, "stride"),
            "padding": cfg.get("padding", "valid"),
            "activation": _activation(cfg.get("activation"), where),
        }
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        _options(cfg, where, {"pool_size", "strides", "padding", "data_format"})
        _expect(cfg, "data_format", channels_last, where)
        _expect(cfg, "padding", ("valid",), where)
        pool = _square(cfg.get("pool_size", 2), where, "pool size")
        strides = cfg.get("strides")
        if strides is not None and _square(strides, where, "stride") != pool:
            raise ArchiveRefused(
                f"{where} moves by a stride other than its pool size; CNN Lens pools with "
                "strides equal to the pool size"
            )
        return {"type": "maxpool2d" if kind == "MaxPooling2D" else "avgpool2d", "pool_size": pool}
    if kind == "Dropout":
        _options(cfg, where, {"rate", "noise_shape"})
        return {"type": "dropout", "rate": cfg.get("rate")}
    if kind == "Flatten":
        _options(cfg, where, {"data_format"})
        _expect(cfg, "data_format", channels_last, where)
        return {"type": "flatten"}
    if kind == "Dense":
        _options(cfg, where, {"units", "activation", "use_bias"})
        _expect(cfg, "use_bias", (True,), where)
        return {
            "type": "dense",
            "units": cfg.get("units"),
            "activation": _activation(cfg.get("activation"), where),
        }
    if kind == "BatchNormalization":
        _options(cfg, where, {"axis", "momentum", "epsilon", "center", "scale", "synchronized"})
        _expect(cfg, "center", (True,), where)
        _expect(cfg, "scale", (True,), where)
        axis = cfg.get("axis", -1)
        if isinstance(axis, list) and len(axis) == 1:
            axis = axis[0]
        if axis not in (-1, rank):
            raise ArchiveRefused(
                f"{where} normalises along axis {_quoted(axis)}; CNN Lens normalises the last "
                "axis (the channels) only"
            )
        return {
            "type": "batchnorm",
            "momentum": cfg.get("momentum", 0.99),
            "epsilon": cfg.get("epsilon", 0.001),
        }
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        _options(cfg, where, {"data_format", "keepdims"})
        _expect(cfg, "data_format", channels_last, where)
        return {
            "type": "globalavgpool2d" if kind == "GlobalAveragePooling2D" else "globalmaxpool2d"
        }
    if kind == "Activation":
        _options(cfg, where, {"activation"})
        return {"type": "activation", "activation": _activation(cfg.get("activation"), where)}
    if kind == "ReLU":
        _options(cfg, where, {"max_value", "negative_slope", "threshold"})
        _expect(cfg, "max_value", (None,), where)
        _expect(cfg, "negative_slope", (0.0, 0), where)
        _expect(cfg, "threshold", (0.0, 0), where)
        return {"type": "activation", "activation": "relu"}
    if kind == "Softmax":
        _options(cfg, where, {"axis"})
        _expect(cfg, "axis", (-1, [-1]), where)
        return {"type": "activation", "activation": "softmax"}
    if kind == "InputLayer":
        raise ArchiveRefused(f"{where} is a second input layer; the model must have one input")
    supported = (
        "InputLayer, Conv2D, MaxPooling2D, AveragePooling2D, BatchNormalization, Activation, "
        "ReLU, Softmax, Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D, Dense"
    )
    raise ArchiveRefused(f"{where} is not a layer CNN Lens can build; it builds {supported}")


def _fold_softmax(layers: list[ImportedLayer]) -> list[ImportedLayer]:
    """Dense(linear) followed by a softmax activation at the end is Dense(softmax): the schema's
    output layer. Nothing else is merged."""
    if (
        len(layers) >= 2
        and layers[-1].spec == {"type": "activation", "activation": "softmax"}
        and layers[-2].spec.get("type") == "dense"
        and layers[-2].spec.get("activation") == "linear"
    ):
        dense = layers[-2]
        return [
            *layers[:-2],
            ImportedLayer(dense.source, dense.keras_class, dense.spec | {"activation": "softmax"}),
        ]
    return layers


def run_config(plan: ArchivePlan, dataset: str, name: str = "") -> dict[str, Any]:
    """The run config of the imported model (a raw dict for shared.config.parse_config)."""
    return {
        "name": name or f"{plan.model_name} (imported)",
        "dataset": dataset,
        "layers": plan.layer_specs(),
        "epochs": 1,
    }


def describe_errors(plan: ArchivePlan, errors: list[dict[str, str]]) -> str:
    """The schema's per-field messages as one sentence naming the archive's layers."""
    parts = []
    for err in errors:
        where = err.get("field", "")
        match = re.match(r"^layers\.(\d+)(?:\.(\w+))?$", where)
        if match and int(match[1]) < len(plan.layers):
            layer = plan.layers[int(match[1])]
            label = f"layer {_quoted(layer.source or layer.keras_class)} ({layer.keras_class})"
            if match[2]:
                label += f" {match[2]}"
            parts.append(f"{label}: {err.get('message')}")
        else:
            parts.append(f"{where}: {err.get('message')}")
    return "the model cannot be imported: " + "; ".join(parts)


def input_mismatch(plan: ArchivePlan, dataset: str, shape: tuple[int, ...]) -> str | None:
    """A sentence when the model's input is not the dataset's images, else None."""
    if tuple(plan.input_shape) == tuple(shape):
        return None
    got = "×".join(str(d) for d in plan.input_shape)
    want = "×".join(str(d) for d in shape)
    return (
        f"the model takes {got} inputs, but the images of {dataset} are {want}; "
        "pick a dataset of the size the model was trained on"
    )
