"""Reading an uploaded dataset (`.npz` or `.zip` of class folders), with bounded memory and time.

Everything here is numpy and Pillow, no TensorFlow: the import job runs it on the analysis worker,
and the API uses `quick_check` on the upload before it answers 202.

Every upload is untrusted. Nothing in it is executed or unpickled (`allow_pickle=False`, and the
`.npy` headers are read and checked before any array is), no path from it is ever joined to a
folder (members are only read from the archive, by name, into memory), and every size is checked
against the limits before the bytes are allocated:

- the file itself and the decoded images are each at most `max_bytes` (500 MB by default), and
  there are at most `max_images` images (200,000);
- each archive member is checked for what its header claims (size, compression ratio: zip bombs)
  and read with a cap, so a header that lies fails the CRC check instead of filling memory;
- names with `..`, absolute paths, drive letters or backslashes, and symlinks are refused.

A refusal is a `DatasetRejected` whose message is a sentence for the user.

**Forms.** A `.npz` with `x_train`, `y_train`, `x_test`, `y_test` (and optionally `class_names`):
images uint8, or floats in [0, 1], shaped (N, H, W) or (N, H, W, C) with C 1 or 3; labels whole
numbers 0..K-1. A `.zip` of class folders: `train/<class>/<picture>` and `test/<class>/<picture>`,
or `<class>/<picture>` alone, split into training and test sets by `test_fraction` (every class
split alike, the pictures in name order, the last ones to the test set); one enclosing folder
around either layout is allowed. Pictures are PNG or JPEG. Files and folders whose name starts
with a dot, and `__MACOSX/`, are skipped.

**Sizes.** Grayscale or RGB; 8 to 128 pixels a side, square or not; 2 to 100 classes. In a zip
the dataset's size is the most common size among its pictures, and every picture of another size
is cropped about its centre to that aspect ratio and resized to it (box filter); how many were
resized is in the dataset's notes. A zip is RGB when any picture has colour, else grayscale.
"""

from __future__ import annotations

import math
import zipfile
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from shared.dataset_pictures import read_zip
from shared.dataset_rules import (  # the names callers import from here
    CHUNK,
    DEFAULT_TEST_FRACTION,
    LABEL_KINDS,
    MAX_CLASSES,
    MAX_RATIO,
    NPZ_KEYS,
    NPZ_OPTIONAL,
    RATIO_FLOOR,
    DatasetRejected,
    Imported,
    Limits,
    Progress,
    check_classes,
    check_member_name,
    check_sides,
    class_names_of,
    mb,
    no_progress,
    shown,
    why,
)

__all__ = [
    "DEFAULT_TEST_FRACTION",
    "DatasetRejected",
    "Imported",
    "Limits",
    "quick_check",
    "read_upload",
]


def open_archive(fh: IO[bytes], limits: Limits) -> zipfile.ZipFile:
    """The upload as a zip (an .npz is one too), its members' names and sizes checked."""
    try:
        archive = zipfile.ZipFile(fh)
    except zipfile.BadZipFile:
        raise DatasetRejected(
            "the file is not a readable .npz or .zip archive (it may be truncated: "
            "upload it again, whole)"
        ) from None
    except (OSError, ValueError, EOFError):
        raise DatasetRejected("the file could not be read as an archive") from None
    members = archive.infolist()
    if len(members) > limits.max_images + 10_000:
        raise DatasetRejected(
            f"the archive holds {len(members):,} entries; at most {limits.max_images:,} images "
            "are accepted"
        )
    total = 0
    for info in members:
        check_member_name(info)
        if info.is_dir():
            continue
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise DatasetRejected(
                f"'{shown(info.filename)}' claims {mb(info.file_size)} from "
                f"{mb(info.compress_size)} compressed; an archive that expands this much is "
                "refused (a zip bomb)"
            )
        if info.flag_bits & 0x1:
            raise DatasetRejected(f"'{shown(info.filename)}' is encrypted; upload it unencrypted")
    # Members of an npz are raw arrays, bounded again below; pictures decode to less than this.
    if total > 2 * limits.max_bytes:
        raise DatasetRejected(
            f"the archive expands to {mb(total)}; at most {mb(2 * limits.max_bytes)} is accepted"
        )
    return archive


def quick_check(fh: IO[bytes], limits: Limits) -> str:
    """'npz' or 'zip' after reading the archive's directory (cheap): what the API checks before
    it answers 202. Raises DatasetRejected for a file that is no archive, truncated, or hostile."""
    with open_archive(fh, limits) as archive:
        names = {info.filename for info in archive.infolist() if not info.is_dir()}
    if {f"{k}.npy" for k in NPZ_KEYS} <= names:
        return "npz"
    if any(n.lower().endswith(".npy") for n in names):
        missing = sorted(k for k in NPZ_KEYS if f"{k}.npy" not in names)
        raise DatasetRejected(
            f"the .npz lacks {', '.join(missing)}; it needs x_train, y_train, x_test and y_test"
        )
    return "zip"


def _npy_header(fh: IO[bytes], name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            return npy_format.read_array_header_1_0(fh)
        if version in ((2, 0), (3, 0)):
            return npy_format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile):
        pass
    raise DatasetRejected(f"'{name}' in the .npz is not a readable numpy array")


def _read_npy(archive: zipfile.ZipFile, key: str, budget: int) -> np.ndarray:
    """One array of the npz, its header checked before its data is read (no pickles, no object
    arrays, at most `budget` bytes, exactly the bytes the header promises)."""
    member = f"{key}.npy"
    info = archive.getinfo(member)
    try:
        with archive.open(info) as fh:
            shape, fortran, dtype = _npy_header(fh, key)
            if dtype.hasobject or dtype.kind not in "uifbU":
                raise DatasetRejected(
                    f"'{key}' holds {dtype} values; images must be uint8 or floats and labels "
                    "whole numbers (arrays of Python objects are never loaded)"
                )
            if dtype.kind == "U" and key != "class_names":
                raise DatasetRejected(f"'{key}' holds text; it must hold numbers")
            count = math.prod(shape)
            size = count * dtype.itemsize
            if size > budget:
                raise DatasetRejected(
                    f"'{key}' is {mb(size)} of {dtype}; at most {mb(budget)} is accepted"
                )
            data = fh.read(size + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetRejected(
            f"'{key}' could not be read ({why(exc)}); the upload may be truncated or damaged"
        ) from None
    if len(data) != size:
        raise DatasetRejected(
            f"'{key}' is shorter or longer than its header says; the upload may be truncated"
        )
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C")


def _images(x: np.ndarray, key: str) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, 3) from uint8 or float-in-[0, 1] images, checked."""
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] != 3):
        raise DatasetRejected(
            f"'{key}' has shape {tuple(x.shape)}; images must be (N, H, W) or (N, H, W, C) with "
            "C = 1 or 3"
        )
    if x.shape[0] == 0:
        raise DatasetRejected(f"'{key}' holds no images")
    check_sides(int(x.shape[1]), int(x.shape[2]))
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if x.dtype.kind != "f":
        raise DatasetRejected(
            f"'{key}' holds {x.dtype} values; images must be uint8 (0–255) or floats in [0, 1]"
        )
    out = np.empty(x.shape, dtype=np.uint8)
    step = max(1, CHUNK // max(1, math.prod(x.shape[1:])))
    for start in range(0, len(x), step):
        part = np.asarray(x[start : start + step], dtype=np.float32)
        if not np.isfinite(part).all():
            raise DatasetRejected(f"'{key}' contains NaN or infinite values")
        if part.min() < 0.0 or part.max() > 1.0:
            raise DatasetRejected(
                f"'{key}' holds floats outside [0, 1] (from {float(part.min()):.3g} to "
                f"{float(part.max()):.3g}); scale them to [0, 1] or send uint8"
            )
        out[start : start + step] = np.rint(part * 255.0).astype(np.uint8)
    return out


def _labels(y: np.ndarray, key: str, count: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetRejected(f"'{key}' has shape {tuple(y.shape)}; labels must be (N,)")
    if y.dtype.kind not in LABEL_KINDS:
        raise DatasetRejected(f"'{key}' holds {y.dtype} values; labels must be whole numbers")
    if len(y) != count:
        x_key = key.replace("y_", "x_")
        raise DatasetRejected(f"'{key}' has {len(y):,} labels for {count:,} images in '{x_key}'")
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        raise DatasetRejected(
            f"'{key}' has labels out of range (from {int(y.min())} to {int(y.max())}); labels "
            f"must be 0 to K-1 for K classes, at most {MAX_CLASSES}"
        )
    return y.astype(np.int32)


def read_npz(
    archive: zipfile.ZipFile, limits: Limits, progress: Progress = no_progress
) -> Imported:
    names = {info.filename for info in archive.infolist() if not info.is_dir()}
    missing = [k for k in NPZ_KEYS if f"{k}.npy" not in names]
    if missing:
        raise DatasetRejected(
            f"the .npz lacks {', '.join(missing)}; it needs x_train, y_train, x_test and y_test"
        )
    extra = sorted(names - {f"{k}.npy" for k in (*NPZ_KEYS, *NPZ_OPTIONAL)})
    if extra:
        raise DatasetRejected(
            f"the .npz holds '{shown(extra[0])}' besides x_train, y_train, x_test, y_test "
            "(and class_names); remove it"
        )
    budget = limits.max_bytes
    arrays: dict[str, np.ndarray] = {}
    for i, key in enumerate(NPZ_KEYS):
        arrays[key] = _read_npy(archive, key, budget)
        budget -= arrays[key].nbytes
        progress(0.1 + 0.2 * i, f"read {key}")
    x_train = _images(arrays.pop("x_train"), "x_train")
    x_test = _images(arrays.pop("x_test"), "x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetRejected(
            f"the training images are {x_train.shape[1:]} and the test images "
            f"{x_test.shape[1:]}; both sets must have one shape"
        )
    images = len(x_train) + len(x_test)
    if images > limits.max_images:
        raise DatasetRejected(
            f"the dataset has {images:,} images; at most {limits.max_images:,} are accepted"
        )
    y_train = _labels(arrays.pop("y_train"), "y_train", len(x_train))
    y_test = _labels(arrays.pop("y_test"), "y_test", len(x_test))
    k = int(y_train.max()) + 1
    names_array = _read_npy(archive, "class_names", 1 << 20) if "class_names.npy" in names else None
    if names_array is not None and names_array.ndim == 1:
        k = max(k, len(names_array))
    check_classes(y_train, y_test, k, [str(i) for i in range(k)])
    progress(0.9, "checked")
    return Imported(x_train, y_train, x_test, y_test, class_names_of(names_array, k))


def read_upload(
    fh: IO[bytes],
    limits: Limits,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    progress: Progress = no_progress,
) -> Imported:
    """The dataset in an uploaded .npz or .zip, or DatasetRejected with a sentence."""
    with open_archive(fh, limits) as archive:
        names = {info.filename for info in archive.infolist()}
        if any(n.lower().endswith(".npy") for n in names):
            return read_npz(archive, limits, progress)
        return read_zip(archive, limits, test_fraction, progress)
