"""The dataset catalogue and numpy-only loaders (no TensorFlow, so the dashboard can show samples).

`mnist-sample` ships with the project (10,000 real MNIST digits), so everything works offline.
`mnist` and `fashion_mnist` are read from the files `keras.datasets` caches under
`~/.keras/datasets/`; Fashion-MNIST is also read from Debian's `dataset-fashion-mnist` package.
Nothing is downloaded: a dataset whose files are missing is reported as unavailable.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

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


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    classes: tuple[str, ...]
    description: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)


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
}


class DatasetUnavailable(Exception):
    """The dataset's files are not on this machine; the message says how to get them."""


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
    return f"unknown dataset '{name}'"


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=3)
def load_raw(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as uint8, images (N, 28, 28). Cached per process."""
    reason = unavailable_reason(name)
    if reason:
        raise DatasetUnavailable(reason)
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
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1], as the notebook prepares them."""
    return (images.astype(np.float32) / np.float32(255.0))[..., np.newaxis]


def probe_indices(y_test: np.ndarray, num_classes: int) -> list[int]:
    """The fixed probe set: the first test image of each class, in class order."""
    out = []
    for cls in range(num_classes):
        hits = np.flatnonzero(y_test == cls)
        if hits.size:
            out.append(int(hits[0]))
    return out
