"""An imported model's evaluation: the run a `.keras` upload became (origin `imported`).

The training task hands such a run here instead of training it (`worker.training.train_run`), so
it is claimed, leased, recovered and finished like any other run. The uploaded archive is read
again with `shared.keras_archive` (the same checks the dashboard made), the architecture is built
by CNN Lens' own builder from the run's validated config, and the weights are copied in from the
archive's `model.weights.h5`, read with h5py as plain arrays: every array's link, storage, dtype
and shape is checked against the layer that takes it before a byte is read. Keras never sees the
archive's config.json, and nothing in the file is executed. The run then gets the same files a
trained run gets (`worker.training._save_results`): test score, confusion matrix, filters,
probe activations, metrics and the rebuilt model.keras.
"""

from __future__ import annotations

import io
import logging
import math
from typing import Any

import h5py
import keras
import numpy as np

from shared import keras_archive
from shared.artifacts import IMPORT_ARCHIVE, IMPORT_DIR
from shared.config import LayerInfo, RunConfig
from shared.datasets import DatasetUnavailable, describe, load_raw
from shared.keras_archive import ArchivePlan, ArchiveRefused
from shared.run_states import FINISHED
from shared.store import CANCELLED, FAILED, SUCCEEDED, RunStore
from worker import results
from worker.lease import Heartbeat
from worker.model import build_model, layer_infos

log = logging.getLogger(__name__)

MAX_GROUPS = 512  # groups under layers/ in the weights file (a layer each)


class ImportFailed(ArchiveRefused):
    """The archive passed the dashboard's checks but cannot be evaluated; the message says why."""


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) or "a single value"


def _hard(group: h5py.Group, key: str, where: str) -> Any:
    """`group[key]`, only when it is stored in this file (no soft or external links)."""
    link = group.get(key, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise ImportFailed(
            f"{where} in {keras_archive.WEIGHTS_ENTRY} points elsewhere (a link to another file or "
            "place); CNN Lens reads only arrays stored in the file itself"
        )
    return group[key]


def _array(dataset: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    if not isinstance(dataset, h5py.Dataset):
        raise ImportFailed(f"{where} is not an array")
    if dataset.is_virtual or dataset.external:
        raise ImportFailed(
            f"{where} takes its values from other files; CNN Lens reads only arrays stored in the "
            "file itself"
        )
    if dataset.dtype.kind != "f" or dataset.dtype.itemsize > 8:
        raise ImportFailed(f"{where} holds {dataset.dtype} values, not floating-point weights")
    if tuple(dataset.shape) != tuple(shape):
        raise ImportFailed(
            f"{where} is {_dims(tuple(dataset.shape))}, but the layer config.json describes "
            f"needs {_dims(tuple(shape))}; the weights do not fit the architecture"
        )
    values = np.asarray(dataset[()], dtype=np.float32)
    if not np.isfinite(values).all():
        raise ImportFailed(f"{where} holds NaN or infinite values")
    return values


def _layer_groups(weights: h5py.File) -> dict[str, h5py.Group]:
    """The `vars` group of every layer in the weights file, by the layer's name."""
    layers = _hard(weights, "layers", "layers/")
    if not isinstance(layers, h5py.Group):
        raise ImportFailed(
            f"{keras_archive.WEIGHTS_ENTRY} has no layers/ group; it was not written by Keras 3"
        )
    keys = list(layers.keys())
    if len(keys) > MAX_GROUPS:
        raise ImportFailed(f"{keras_archive.WEIGHTS_ENTRY} has {len(keys):,} layer groups")
    found: dict[str, h5py.Group] = {}
    for key in keys:
        group = _hard(layers, key, f"layers/{key}")
        if not isinstance(group, h5py.Group):
            continue
        variables = _hard(group, "vars", f"layers/{key}/vars")
        if not isinstance(variables, h5py.Group):
            continue
        name = variables.attrs.get("name", key)
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        found[name] = variables
    return found


def read_weights(
    data: bytes, wanted: dict[str, list[tuple[int, ...]]], weightless: set[str]
) -> dict[str, list[np.ndarray]]:
    """The arrays of each archive layer in `wanted` (its variables' shapes, in Keras' order),
    checked one by one; layers in `weightless` must hold none, and no other layer may hold any."""
    try:
        weights = h5py.File(io.BytesIO(data), "r")
    except (OSError, ValueError):
        raise ImportFailed(
            f"{keras_archive.WEIGHTS_ENTRY} in the archive is not a readable HDF5 file"
        ) from None
    out: dict[str, list[np.ndarray]] = {}
    with weights:
        groups = _layer_groups(weights)
        for name, group in groups.items():
            if name not in wanted and len(group.keys()) > 0:
                which = (
                    "a layer without weights" if name in weightless else "no layer of config.json"
                )
                raise ImportFailed(
                    f"{keras_archive.WEIGHTS_ENTRY} holds weights for {name!r}, {which}"
                )
        for name, shapes in wanted.items():
            group = groups.get(name)
            if group is None:
                raise ImportFailed(
                    f"{keras_archive.WEIGHTS_ENTRY} has no weights for layer {name!r}"
                )
            if len(group.keys()) != len(shapes):
                raise ImportFailed(
                    f"layer {name!r} has {len(group.keys())} arrays in "
                    f"{keras_archive.WEIGHTS_ENTRY}, but its kind has {len(shapes)}"
                )
            out[name] = [
                _array(_hard(group, str(i), f"{name}/{i}"), shape, f"weight {i} of layer {name!r}")
                for i, shape in enumerate(shapes)
            ]
    return out


def load_weights(
    model: keras.Model, infos: list[LayerInfo], plan: ArchivePlan, data: bytes
) -> None:
    """Copy the archive's weights into the model CNN Lens built, layer by layer."""
    wanted: dict[str, list[tuple[int, ...]]] = {}
    targets: dict[str, keras.layers.Layer] = {}
    weightless: set[str] = set()
    for info, source in zip(infos, plan.sources(), strict=True):
        layer = model.get_layer(info.name)
        if source is None:
            continue
        if not layer.weights:
            weightless.add(source)
            continue
        # Keras saves trainable variables first, then the others (BatchNormalization: gamma,
        # beta, then the moving mean and variance): the order of layer.weights.
        wanted[source] = [tuple(int(d) for d in w.shape) for w in layer.weights]
        targets[source] = layer
    arrays = read_weights(data, wanted, weightless)
    for source, layer in targets.items():
        layer.set_weights(arrays[source])
    expected = sum(info.params for info in infos)
    copied = sum(math.prod(a.shape) for values in arrays.values() for a in values)
    if copied != expected:  # cannot happen when every shape matched; a guard for the schema
        raise ImportFailed(f"{copied:,} weights were read, the model needs {expected:,}")


def check_plan(plan: ArchivePlan, config: RunConfig) -> None:
    """The archive on disk must still describe the run's validated layers."""
    layers = RunConfig.model_validate(
        {"layers": plan.layer_specs(), "dataset": config.dataset}
    ).layers
    if layers != config.layers:
        raise ImportFailed(
            "the stored archive no longer matches the run's layers; import the model again"
        )


def evaluate_import(store: RunStore, run: dict[str, Any], heartbeat: Heartbeat) -> str | None:
    """Build, load and evaluate an imported run, then finish it: succeeded with every file a
    trained run has, or failed with the sentence that says what the archive got wrong. Other
    errors propagate to `train_run`, which fails the run as it fails a training. The uploaded
    archive is removed once the run is finished (a worker that dies midway leaves it for the
    next delivery)."""
    from worker.training import _finish

    run_id = run["id"]
    try:
        return _evaluate(store, run, heartbeat)
    except ArchiveRefused as exc:
        log.info("imported run %s refused: %s", run_id, exc)
        return _finish(store, run_id, heartbeat.owner, FAILED, error=str(exc))
    finally:
        after = store.get_run(run_id, with_history=False)
        if after is None or after["status"] in FINISHED:
            store.files.remove(run_id, IMPORT_DIR)


def _evaluate(store: RunStore, run: dict[str, Any], heartbeat: Heartbeat) -> str | None:
    from worker.training import _finish, _save_results

    run_id = run["id"]
    config = RunConfig.model_validate(run["config"])
    infos = layer_infos(config)
    path = store.files.path(run_id, IMPORT_ARCHIVE)
    if not path.is_file():
        raise ImportFailed("the uploaded file is no longer there; import the model again")
    if path.stat().st_size > keras_archive.MAX_FILE_BYTES:
        raise ImportFailed("the stored upload is larger than any model CNN Lens imports")
    data = path.read_bytes()
    plan = keras_archive.read_plan(data)
    check_plan(plan, config)
    params = sum(info.params for info in infos)
    keras_archive.check_weights_size(plan, params)
    weights = keras_archive.read_entry(
        keras_archive.open_zip(data),
        keras_archive.WEIGHTS_ENTRY,
        keras_archive.weights_limit(params),
    )
    del data
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, infos)
    load_weights(model, infos, plan, weights)
    del weights
    if store.cancel_requested(run_id):
        return _finish(store, run_id, heartbeat.owner, CANCELLED)
    dataset = describe(config.dataset)
    if dataset is None:
        raise DatasetUnavailable(
            f"the dataset '{config.dataset}' is no longer on this machine (deleted?)"
        )
    _, _, x_test_raw, y_test = load_raw(config.dataset)
    classes = dataset.classes
    no_fit = results.FitTime(0.0, 0, 0.0)
    score = _save_results(
        store, run_id, model, infos, config, classes, x_test_raw, y_test, 0, 0, no_fit
    )
    if store.get_run(run_id, with_history=False) is None:
        store.files.remove_run(run_id)  # deleted while it was evaluated
        return None
    log.info("imported run %s evaluated: test accuracy %.4f", run_id, score.accuracy)
    return _finish(
        store,
        run_id,
        heartbeat.owner,
        SUCCEEDED,
        test_loss=score.loss,
        test_accuracy=score.accuracy,
    )
