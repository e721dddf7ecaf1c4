"""The rules every uploaded dataset is read under (shared/dataset_import.py says which forms and
why): the limits, the refusal with its sentence, each archive member read with a cap and checked
for what its header claims, and the checks on sides and classes both forms share. numpy only."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np

MIN_SIDE, MAX_SIDE = 8, 128
MIN_CLASSES, MAX_CLASSES = 2, 100
MAX_CLASS_NAME = 64
DEFAULT_TEST_FRACTION = 0.2
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_OPTIONAL = ("class_names",)
# Per archive member: a picture of a few hundred pixels a side is far below this, and an array
# member is bounded by max_bytes anyway.
MAX_PICTURE_BYTES = 20 * 1024 * 1024
MAX_PICTURE_PIXELS = 4_000_000
# A member whose header claims more than this many times its compressed size is a zip bomb
# (ordinary PNG/JPEG barely compress; a uint8 array of MNIST compresses ~5×, of blank images more).
MAX_RATIO = 200
RATIO_FLOOR = 1024 * 1024  # small members may compress as well as they like
CHUNK = 1 << 20
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LABEL_KINDS = "iu"  # integer labels only

Progress = Callable[[float, str], None]


class DatasetRejected(ValueError):
    """The upload cannot be imported; str(error) says why, in a sentence for the user."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 500 * 1024 * 1024
    max_images: int = 200_000


@dataclass
class Imported:
    """A dataset read from an upload: uint8 images (N, H, W) or (N, H, W, 3), int labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w = self.x_train.shape[1:3]
        return (int(h), int(w), 1 if self.x_train.ndim == 3 else int(self.x_train.shape[3]))

    def meta(self, name: str) -> dict[str, Any]:
        k = len(self.classes)
        return {
            "name": name,
            "classes": list(self.classes),
            "shape": list(self.shape),
            "counts": {
                "train": len(self.y_train),
                "test": len(self.y_test),
                "train_per_class": np.bincount(self.y_train, minlength=k).tolist(),
                "test_per_class": np.bincount(self.y_test, minlength=k).tolist(),
            },
            "notes": list(self.notes),
        }


def mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def no_progress(_fraction: float, _what: str) -> None:
    return None


def shown(name: str, width: int = 80) -> str:
    """A name from the archive, safe to put in a sentence: no control characters, cut short."""
    clean = CONTROL.sub("?", name)
    return clean if len(clean) <= width else clean[: width - 1] + "…"


def check_member_name(info: zipfile.ZipInfo) -> None:
    """Refuse absolute paths, drive letters, backslashes, `..` and symlinks."""
    name = info.filename
    mode = (info.external_attr >> 16) & 0o170000
    if mode == 0o120000:
        raise DatasetRejected(
            f"'{shown(name)}' is a symbolic link; archives with links are refused"
        )
    if "\\" in name or "\x00" in name:
        raise DatasetRejected(
            f"'{shown(name)}' has a backslash or NUL in its name; use plain names"
        )
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise DatasetRejected(
            f"'{shown(name)}' is an absolute path; archives must hold relative names"
        )
    if ".." in PurePosixPath(name).parts:
        raise DatasetRejected(f"'{shown(name)}' climbs out of the archive with '..'; refused")


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """A member's bytes, never more than `cap`; a damaged or truncated member is refused."""
    if info.file_size > cap:
        raise DatasetRejected(
            f"'{shown(info.filename)}' is {mb(info.file_size)}; at most {mb(cap)} is accepted"
        )
    try:
        with archive.open(info) as fh:
            data = fh.read(cap + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DatasetRejected(
            f"'{shown(info.filename)}' could not be read from the archive ({why(exc)}); the "
            "upload may be truncated or damaged"
        ) from None
    if len(data) > cap:
        raise DatasetRejected(f"'{shown(info.filename)}' is larger than {mb(cap)}")
    return data


def why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return shown(text, 60)


def check_sides(h: int, w: int) -> None:
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise DatasetRejected(
            f"the images are {h}×{w} pixels; each side must be {MIN_SIDE} to {MAX_SIDE}"
        )


def class_names_of(names: np.ndarray | None, k: int) -> tuple[str, ...]:
    if names is None:
        return tuple(str(i) for i in range(k))
    if names.ndim != 1 or len(names) != k:
        raise DatasetRejected(
            f"'class_names' has {names.size} names for {k} classes (labels 0 to {k - 1})"
        )
    return tuple(check_class_name(str(n)) for n in names)


def check_class_name(name: str) -> str:
    name = name.strip()
    if not name or CONTROL.search(name) or len(name) > MAX_CLASS_NAME:
        raise DatasetRejected(
            f"the class name '{shown(name)}' must be 1 to {MAX_CLASS_NAME} printable characters"
        )
    return name


def check_classes(y_train: np.ndarray, y_test: np.ndarray, k: int, names: list[str]) -> None:
    if not MIN_CLASSES <= k <= MAX_CLASSES:
        raise DatasetRejected(
            f"the dataset has {k} class{'es' if k != 1 else ''}; {MIN_CLASSES} to {MAX_CLASSES} "
            "are accepted"
        )
    per_class = np.bincount(y_train, minlength=k)
    empty = [names[i] for i in range(k) if per_class[i] == 0]
    if empty:
        raise DatasetRejected(
            f"class {shown(empty[0])!r} has no training images"
            + (f" (nor {len(empty) - 1} more)" if len(empty) > 1 else "")
            + "; every class needs some"
        )
    unseen = sorted({int(v) for v in np.unique(y_test)} - set(range(k)))
    if unseen:
        raise DatasetRejected(
            f"the test set has label {unseen[0]}, a class the training set lacks (its labels "
            f"are 0 to {k - 1})"
        )
    if not len(y_test):
        raise DatasetRejected("the test set is empty; it needs at least one image")
