"""The dataset catalogue and numpy-only loaders (no TensorFlow, so the dashboard can show samples).

`mnist-sample` ships with the project (10,000 real MNIST digits), so everything works offline.
`mnist` and `fashion_mnist` are read from the files `keras.datasets` caches under
`~/.keras/datasets/`; Fashion-MNIST is also read from Debian's `dataset-fashion-mnist` package.
`shapes-rgb` (32×32 colour pictures, `shared.synthetic`) is generated on first use and cached in
`<data dir>/datasets/builtin/`. Nothing is downloaded: a dataset whose files are missing is
reported as unavailable.

Imported datasets (`shared.dataset_import`) are named by their id (32 hex digits) and live in
`<data dir>/datasets/<id>/`: `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy` (uint8), then
`meta.json` (name, classes, shape, counts), each written atomically; `meta.json` is what makes one
usable. The arrays are opened memory-mapped, so the dashboard reads only the images it shows.

Images are uint8: (N, H, W) for grayscale, (N, H, W, 3) for colour; `to_model_input` gives the
model (N, H, W, C) floats in [0, 1].
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from shared import synthetic

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


DATASET_ID_RE = re.compile(r"^[0-9a-f]{32}$")  # an imported dataset's id, like a run's
META = "meta.json"
ARRAYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    classes: tuple[str, ...]
    description: str
    shape: tuple[int, int, int] = (28, 28, 1)  # height, width, channels of one image
    imported: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.shape[2]


DATASETS: dict[str, DatasetInfo] = {
    "mnist-sample": DatasetInfo(
        "mnist-sample",
        "MNIST sample (10,000 digits, offline)",
        DIGITS,
        "8,000 training and 2,000 test handwritten digits shipped with CNN Lens.",
    ),
    "mnist": DatasetInfo(
        "mnist",
        "MNIST (70,000 digits)",
        DIGITS,
        "The full MNIST digits, read from keras.datasets' cache (~/.keras/datasets/mnist.npz).",
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist",
        "Fashion-MNIST (70,000 clothing images)",
        FASHION_CLASSES,
        "Zalando's clothing images, from Debian's dataset-fashion-mnist or keras' cache.",
    ),
    synthetic.NAME: DatasetInfo(
        synthetic.NAME,
        "Coloured shapes (14,000 RGB pictures, generated)",
        synthetic.CLASS_NAMES,
        "32×32 colour pictures of eight classes (four colours × shapes and textures), generated "
        "on this machine on first use.",
        (synthetic.SIDE, synthetic.SIDE, 3),
    ),
}


class DatasetUnavailable(Exception):
    """The dataset's files are not on this machine; the message says how to get them."""


def is_dataset_id(name: str) -> bool:
    return bool(DATASET_ID_RE.match(name or ""))


def datasets_dir() -> Path:
    """Where imported datasets and the generated one live: `<data dir>/datasets/`."""
    from shared.settings import get_settings  # read when needed: tests point it elsewhere

    return get_settings().data_dir / "datasets"


def imported_dir(dataset_id: str) -> Path:
    if not is_dataset_id(dataset_id):
        raise ValueError(f"not a dataset id: {dataset_id!r}")
    return datasets_dir() / dataset_id


@lru_cache(maxsize=64)
def _read_meta(path: str, mtime_ns: int) -> DatasetInfo | None:
    try:
        meta = json.loads(Path(path).read_text())
        h, w, c = (int(v) for v in meta["shape"])
        return DatasetInfo(
            Path(path).parent.name,
            str(meta["name"]),
            tuple(str(c) for c in meta["classes"]),
            f"imported: {meta['counts']['train']:,} training and {meta['counts']['test']:,} "
            f"test images, {h}×{w}{' RGB' if c == 3 else ' grayscale'}",
            (h, w, c),
            imported=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe(name: str) -> DatasetInfo | None:
    """The catalogue entry of a built-in dataset, or of a ready imported one (by id); else None."""
    if name in DATASETS:
        return DATASETS[name]
    if not is_dataset_id(name):
        return None
    path = imported_dir(name) / META
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _read_meta(str(path), mtime)


def input_shape(name: str) -> tuple[int, int, int]:
    """(height, width, channels) of the dataset's images; MNIST's for an unknown name."""
    info = describe(name)
    return info.shape if info else (28, 28, 1)


def image_shape(name: str) -> tuple[int, ...]:
    """The shape of one stored image: (h, w) for grayscale, (h, w, 3) for colour."""
    h, w, c = input_shape(name)
    return (h, w) if c == 1 else (h, w, c)


def class_names(name: str) -> tuple[str, ...]:
    info = describe(name)
    return info.classes if info else ()


def _fashion_dir() -> Path | None:
    for folder in (keras_cache_dir() / "fashion-mnist", DEBIAN_FASHION):
        if all((folder / f).exists() for f in FASHION_FILES):
            return folder
    return None


def unavailable_reason(name: str) -> str | None:
    """None when the dataset can be loaded offline, else a sentence saying what is missing."""
    if name == "mnist-sample":
        return None if (PACKAGE_DATA / "mnist-10k.npz").exists() else "the bundled file is missing"
    if name == "mnist":
        path = keras_cache_dir() / "mnist.npz"
        return (
            None
            if path.exists()
            else (
                f"MNIST is not on this machine ({path} is missing) and it cannot be downloaded here; "
                "use 'mnist-sample', or copy mnist.npz into that folder"
            )
        )
    if name == "fashion_mnist":
        return (
            None
            if _fashion_dir()
            else (
                "Fashion-MNIST is not on this machine; install Debian's 'dataset-fashion-mnist' "
                f"package or copy its four files into {keras_cache_dir() / 'fashion-mnist'}"
            )
        )
    if name == synthetic.NAME:
        return None  # generated when first needed
    if is_dataset_id(name):
        folder = imported_dir(name)
        if describe(name) is None or not all((folder / f"{a}.npy").exists() for a in ARRAYS):
            return (
                f"there is no ready imported dataset with id '{name}' (it may still be importing, "
                "have failed, or have been deleted); see the Datasets page"
            )
        return None
    return f"unknown dataset '{name}'"


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=3)
def load_raw(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): uint8 images (N, H, W) or (N, H, W, 3) and labels.
    Cached per process."""
    reason = unavailable_reason(name)
    if reason:
        raise DatasetUnavailable(reason)
    if name == synthetic.NAME:
        return synthetic.load_or_build(datasets_dir() / "builtin")
    if is_dataset_id(name):
        where = imported_dir(name)
        xtr, ytr, xte, yte = (
            np.load(where / f"{a}.npy", mmap_mode="r", allow_pickle=False) for a in ARRAYS
        )
        return xtr, ytr, xte, yte
    if name in ("mnist-sample", "mnist"):
        path = (
            PACKAGE_DATA / "mnist-10k.npz"
            if name == "mnist-sample"
            else keras_cache_dir() / "mnist.npz"
        )
        with np.load(path, allow_pickle=False) as npz:
            return npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"]
    folder = _fashion_dir()
    assert folder is not None
    xtr, ytr, xte, yte = (_read_idx(folder / f) for f in FASHION_FILES)
    return xtr, ytr, xte, yte


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) → float32 (N, H, W, 1) in [0, 1], as the notebook prepares them; colour
    images (N, H, W, 3) keep their channels."""
    x = images.astype(np.float32) / np.float32(255.0)
    return x[..., np.newaxis] if x.ndim == 3 else x


def probe_indices(y_test: np.ndarray, num_classes: int) -> list[int]:
    """The fixed probe set: the first test image of each class, in class order."""
    out = []
    for cls in range(num_classes):
        hits = np.flatnonzero(y_test == cls)
        if hits.size:
            out.append(int(hits[0]))
    return out
