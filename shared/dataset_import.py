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

import io
import math
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format
from PIL import Image

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


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def _no_progress(_fraction: float, _what: str) -> None:
    return None


# --- the archive itself ----------------------------------------------------------------------------


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
                f"'{shown(info.filename)}' claims {_mb(info.file_size)} from "
                f"{_mb(info.compress_size)} compressed; an archive that expands this much is "
                "refused (a zip bomb)"
            )
        if info.flag_bits & 0x1:
            raise DatasetRejected(f"'{shown(info.filename)}' is encrypted; upload it unencrypted")
    # Members of an npz are raw arrays, bounded again below; pictures decode to less than this.
    if total > 2 * limits.max_bytes:
        raise DatasetRejected(
            f"the archive expands to {_mb(total)}; at most {_mb(2 * limits.max_bytes)} is accepted"
        )
    return archive


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


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """A member's bytes, never more than `cap`; a damaged or truncated member is refused."""
    if info.file_size > cap:
        raise DatasetRejected(
            f"'{shown(info.filename)}' is {_mb(info.file_size)}; at most {_mb(cap)} is accepted"
        )
    try:
        with archive.open(info) as fh:
            data = fh.read(cap + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DatasetRejected(
            f"'{shown(info.filename)}' could not be read from the archive ({_why(exc)}); the "
            "upload may be truncated or damaged"
        ) from None
    if len(data) > cap:
        raise DatasetRejected(f"'{shown(info.filename)}' is larger than {_mb(cap)}")
    return data


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return shown(text, 60)


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


# --- .npz --------------------------------------------------------------------------------------


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
                    f"'{key}' is {_mb(size)} of {dtype}; at most {_mb(budget)} is accepted"
                )
            data = fh.read(size + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetRejected(
            f"'{key}' could not be read ({_why(exc)}); the upload may be truncated or damaged"
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
    _check_sides(int(x.shape[1]), int(x.shape[2]))
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


def _check_sides(h: int, w: int) -> None:
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise DatasetRejected(
            f"the images are {h}×{w} pixels; each side must be {MIN_SIDE} to {MAX_SIDE}"
        )


def _class_names(names: np.ndarray | None, k: int) -> tuple[str, ...]:
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


def read_npz(
    archive: zipfile.ZipFile, limits: Limits, progress: Progress = _no_progress
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
    _check_classes(y_train, y_test, k, [str(i) for i in range(k)])
    progress(0.9, "checked")
    return Imported(x_train, y_train, x_test, y_test, _class_names(names_array, k))


def _check_classes(y_train: np.ndarray, y_test: np.ndarray, k: int, names: list[str]) -> None:
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


# --- .zip of class folders ---------------------------------------------------------------------


def _layout(
    members: list[zipfile.ZipInfo],
) -> tuple[dict[str, dict[str, list[zipfile.ZipInfo]]], set[tuple[str, str]]]:
    """{"train"|"test"|"all": {class: [members]}} and the (set, class) folders seen, from the
    archive's names, with one enclosing folder allowed."""
    entries = []
    for info in members:
        parts = PurePosixPath(info.filename).parts
        if not parts or any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue
        entries.append((parts, info))
    tops = {parts[0] for parts, _ in entries}
    if len(tops) == 1 and all(len(p) > 1 for p, _ in entries if not _.is_dir()):
        top = next(iter(tops))
        if top.lower() not in ("train", "test"):
            entries = [(parts[1:], info) for parts, info in entries if len(parts) > 1]
    split = any(parts[0].lower() in ("train", "test") for parts, _ in entries)
    sets: dict[str, dict[str, list[zipfile.ZipInfo]]] = {}
    folders: set[tuple[str, str]] = set()
    for parts, info in entries:
        if split:
            where = parts[0].lower()
            if where not in ("train", "test"):
                raise DatasetRejected(
                    f"'{shown(info.filename)}' is outside train/ and test/; with those folders, "
                    "every picture goes in train/<class>/ or test/<class>/"
                )
            rest = parts[1:]
        else:
            where, rest = "all", parts
        if info.is_dir():
            if len(rest) == 1:
                folders.add((where, rest[0]))
            elif len(rest) > 1:
                raise DatasetRejected(
                    f"'{shown(info.filename)}' nests folders inside a class folder; put the "
                    "pictures directly in <class>/"
                )
            continue
        if len(rest) != 2:
            raise DatasetRejected(
                f"'{shown(info.filename)}' is not in a class folder: expected "
                + ("train/<class>/<picture>" if split else "<class>/<picture>")
            )
        cls, filename = rest
        if not filename.lower().endswith(PICTURE_SUFFIXES):
            raise DatasetRejected(
                f"'{shown(info.filename)}' is not a picture (only .png, .jpg and .jpeg are read)"
            )
        folders.add((where, cls))
        sets.setdefault(where, {}).setdefault(cls, []).append(info)
    if split and "train" not in {w for w, _ in folders}:
        raise DatasetRejected("the archive has test/ but no train/ folder of classes")
    if split and "test" not in {w for w, _ in folders}:
        raise DatasetRejected(
            "the archive has train/ but no test/ folder; add test/<class>/… or put the class "
            "folders at the top to split them by the test fraction"
        )
    return sets, folders


def _open_picture(data: bytes, name: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    except Image.DecompressionBombError:
        raise DatasetRejected(f"'{shown(name)}' has too many pixels") from None
    except Exception:
        raise DatasetRejected(f"'{shown(name)}' is not a PNG or JPEG picture") from None
    w, h = img.size
    if w * h > MAX_PICTURE_PIXELS:
        raise DatasetRejected(
            f"'{shown(name)}' is {w}×{h} pixels; pictures of at most "
            f"{MAX_PICTURE_PIXELS / 1e6:g} megapixels are read"
        )
    return img


def _is_colour(img: Image.Image) -> bool:
    return img.mode not in ("1", "L", "LA", "I", "I;16", "F", "La")


def _decode(img: Image.Image, name: str, colour: bool) -> np.ndarray:
    try:
        img.load()
        if img.mode in ("I", "F") or img.mode.startswith("I;16"):
            grey = np.asarray(img.convert("F"), dtype=np.float32)
            low, span = float(grey.min()), float(np.ptp(grey))
            grey = (grey - low) * (255.0 / span) if span > 0 else np.zeros_like(grey)
            img = Image.fromarray(np.rint(grey).astype(np.uint8))
        if "A" in img.mode or "transparency" in img.info:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        return np.asarray(img.convert("RGB" if colour else "L"), dtype=np.uint8)
    except DatasetRejected:
        raise
    except Exception:
        raise DatasetRejected(
            f"'{shown(name)}' could not be decoded: the picture is damaged or incomplete"
        ) from None


def _fit(picture: np.ndarray, h: int, w: int) -> np.ndarray:
    """Crop about the centre to h:w, then resize to h×w (box filter): the stated rule."""
    ph, pw = picture.shape[:2]
    if ph * w > pw * h:
        keep = max(1, round(pw * h / w))
        top = (ph - keep) // 2
        picture = picture[top : top + keep]
    else:
        keep = max(1, round(ph * w / h))
        left = (pw - keep) // 2
        picture = picture[:, left : left + keep]
    img = Image.fromarray(picture).resize((w, h), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.uint8)


def read_zip(
    archive: zipfile.ZipFile,
    limits: Limits,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    progress: Progress = _no_progress,
) -> Imported:
    sets, folders = _layout(archive.infolist())
    for where, cls in sorted(folders):
        if not sets.get(where, {}).get(cls):
            place = f"{where}/{cls}" if where != "all" else cls
            raise DatasetRejected(
                f"the class folder '{shown(place)}' is empty; remove it or add pictures"
            )
    pictures = [info for classes in sets.values() for infos in classes.values() for info in infos]
    if not pictures:
        raise DatasetRejected("the archive holds no pictures in class folders")
    if len(pictures) > limits.max_images:
        raise DatasetRejected(
            f"the archive holds {len(pictures):,} pictures; at most {limits.max_images:,} are "
            "accepted"
        )
    train_classes = sorted(sets.get("train", sets.get("all", {})))
    if "test" in sets:
        extra = sorted(set(sets["test"]) - set(train_classes))
        if extra:
            raise DatasetRejected(
                f"the test set has the class '{shown(extra[0])}', which the training set lacks"
            )
    classes = tuple(check_class_name(c) for c in train_classes)
    if not MIN_CLASSES <= len(classes) <= MAX_CLASSES:
        raise DatasetRejected(
            f"the archive has {len(classes)} class folder{'s' if len(classes) != 1 else ''}; "
            f"{MIN_CLASSES} to {MAX_CLASSES} are accepted"
        )
    index = {c: i for i, c in enumerate(train_classes)}

    # First pass: headers only (size and mode), to choose the dataset's size and channels.
    sizes: Counter[tuple[int, int]] = Counter()
    colour = False
    for n, info in enumerate(pictures):
        img = _open_picture(_read_member(archive, info, MAX_PICTURE_BYTES), info.filename)
        sizes[(img.size[1], img.size[0])] += 1
        colour = colour or _is_colour(img)
        if n % 500 == 0:
            progress(0.3 * n / len(pictures), "reading headers")
    (h, w), _ = sizes.most_common(1)[0]
    _check_sides(h, w)
    channels = 3 if colour else 1
    need = len(pictures) * h * w * channels
    if need > limits.max_bytes:
        raise DatasetRejected(
            f"{len(pictures):,} pictures of {h}×{w}×{channels} take {_mb(need)} decoded; at most "
            f"{_mb(limits.max_bytes)} are accepted"
        )

    # Second pass: decode, convert and resize each picture into one preallocated array.
    x = np.empty((len(pictures), h, w, 3) if colour else (len(pictures), h, w), dtype=np.uint8)
    y = np.empty(len(pictures), dtype=np.int32)
    is_test = np.zeros(len(pictures), dtype=bool)
    resized = 0
    n = 0
    for where in ("train", "test", "all"):
        for cls, infos in sorted(sets.get(where, {}).items()):
            ordered = sorted(infos, key=lambda i: i.filename)
            cut = len(ordered)
            if where == "all":
                cut = len(ordered) - max(1, round(len(ordered) * test_fraction))
                if cut < 1:
                    raise DatasetRejected(
                        f"the class '{shown(cls)}' has {len(ordered)} picture"
                        f"{'s' if len(ordered) != 1 else ''}, too few to split into training "
                        "and test sets; add pictures or use train/ and test/ folders"
                    )
            for j, info in enumerate(ordered):
                data = _read_member(archive, info, MAX_PICTURE_BYTES)
                picture = _decode(_open_picture(data, info.filename), info.filename, colour)
                if picture.shape[:2] != (h, w):
                    picture = _fit(picture, h, w)
                    resized += 1
                x[n] = picture
                y[n] = index[cls]
                is_test[n] = where == "test" or (where == "all" and j >= cut)
                n += 1
                if n % 200 == 0:
                    progress(0.3 + 0.6 * n / len(pictures), "decoding pictures")
    notes = []
    if resized:
        notes.append(
            f"{resized:,} picture{'s' if resized != 1 else ''} of another size "
            f"{'were' if resized != 1 else 'was'} cropped about the centre and resized to "
            f"{h}×{w}, the most common size"
        )
    if "all" in sets:
        notes.append(
            f"split by class: the last {test_fraction:.0%} of each class's pictures "
            "(in name order) are the test set"
        )
    x_train, y_train, x_test, y_test = x[~is_test], y[~is_test], x[is_test], y[is_test]
    _check_classes(y_train, y_test, len(classes), list(classes))
    return Imported(x_train, y_train, x_test, y_test, classes, notes)


def read_upload(
    fh: IO[bytes],
    limits: Limits,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    progress: Progress = _no_progress,
) -> Imported:
    """The dataset in an uploaded .npz or .zip, or DatasetRejected with a sentence."""
    with open_archive(fh, limits) as archive:
        names = {info.filename for info in archive.infolist()}
        if any(n.lower().endswith(".npy") for n in names):
            return read_npz(archive, limits, progress)
        return read_zip(archive, limits, test_fraction, progress)
