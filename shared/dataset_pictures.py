"""A `.zip` of class folders read into a dataset: the layout of its folders, then two passes over
its pictures, headers first (to choose the dataset's size and channels) and then each one decoded,
converted and fitted into one preallocated array. The rules are in shared/dataset_import.py's
docstring; the limits in shared/dataset_rules.py."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import PurePosixPath

import numpy as np
from PIL import Image

from shared.dataset_rules import (
    DEFAULT_TEST_FRACTION,
    MAX_CLASSES,
    MAX_PICTURE_BYTES,
    MAX_PICTURE_PIXELS,
    MIN_CLASSES,
    PICTURE_SUFFIXES,
    DatasetRejected,
    Imported,
    Limits,
    Progress,
    check_class_name,
    check_classes,
    check_sides,
    mb,
    no_progress,
    read_member,
    shown,
)


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
    progress: Progress = no_progress,
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
        img = _open_picture(read_member(archive, info, MAX_PICTURE_BYTES), info.filename)
        sizes[(img.size[1], img.size[0])] += 1
        colour = colour or _is_colour(img)
        if n % 500 == 0:
            progress(0.3 * n / len(pictures), "reading headers")
    (h, w), _ = sizes.most_common(1)[0]
    check_sides(h, w)
    channels = 3 if colour else 1
    need = len(pictures) * h * w * channels
    if need > limits.max_bytes:
        raise DatasetRejected(
            f"{len(pictures):,} pictures of {h}×{w}×{channels} take {mb(need)} decoded; at most "
            f"{mb(limits.max_bytes)} are accepted"
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
                data = read_member(archive, info, MAX_PICTURE_BYTES)
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
    check_classes(y_train, y_test, len(classes), list(classes))
    return Imported(x_train, y_train, x_test, y_test, classes, notes)
