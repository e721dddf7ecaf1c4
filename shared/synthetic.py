"""`shapes-rgb`: a colour dataset generated on this machine, so colour filters can be seen offline.

32×32 RGB pictures of eight classes. Each of four colours appears in two classes and the disc shape
in two, so neither colour alone nor shape alone tells the classes apart: a model has to learn
coloured edges and blobs. Every picture varies the position, size, rotation, hue and brightness
of its object, the colour and brightness of a noisy background, and carries a small distractor
blob of a random colour.

The pictures are made by numpy alone from a fixed seed, so every machine makes the same ones. The
first process that needs them builds them (a second or two) and writes them to
`<data dir>/datasets/builtin/` through a temporary file and a rename, so a reader never sees half a
file and two processes building at once simply both write the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from shared.artifacts import atomic_write_bytes

NAME = "shapes-rgb"
VERSION = 1  # bump when the pictures change: the cache file's name carries it
SIDE = 32
SEED = 20261202
TRAIN_PER_CLASS = 1500
TEST_PER_CLASS = 250
COLOURS = {
    "red": (0.86, 0.16, 0.14),
    "green": (0.18, 0.72, 0.22),
    "blue": (0.16, 0.32, 0.90),
    "yellow": (0.92, 0.82, 0.12),
}
# (colour, shape) per class, in class order.
CLASSES: tuple[tuple[str, str], ...] = (
    ("red", "disc"),
    ("red", "square"),
    ("green", "ring"),
    ("green", "triangle"),
    ("blue", "stripes"),
    ("blue", "disc"),
    ("yellow", "checks"),
    ("yellow", "cross"),
)
CLASS_NAMES = tuple(f"{colour} {shape}" for colour, shape in CLASSES)


def cache_path(folder: Path) -> Path:
    return folder / f"{NAME}-v{VERSION}.npz"


def _mask(shape: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """n float masks (n, SIDE, SIDE) in [0, 1] of one shape, each placed, sized and turned anew."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) + 0.5
    cx = rng.uniform(11, 21, (n, 1, 1)).astype(np.float32)
    cy = rng.uniform(11, 21, (n, 1, 1)).astype(np.float32)
    r = rng.uniform(6.5, 10.5, (n, 1, 1)).astype(np.float32)
    angle = rng.uniform(0, np.pi, (n, 1, 1)).astype(np.float32)
    dx, dy = xx - cx, yy - cy
    u = dx * np.cos(angle) + dy * np.sin(angle)  # coordinates turned with the object
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    dist = np.hypot(dx, dy)
    if shape == "disc":
        inside = dist <= r
    elif shape == "ring":
        inside = (dist <= r) & (dist >= r * 0.58)
    elif shape == "square":
        inside = np.maximum(np.abs(u), np.abs(v)) <= r * 0.8
    elif shape == "triangle":
        # Three half-planes of an equilateral triangle around the centre.
        inside = np.ones_like(dist, dtype=bool)
        for k in range(3):
            a = angle + np.float32(k * 2 * np.pi / 3)
            inside &= dx * np.cos(a) + dy * np.sin(a) <= r * 0.62
    elif shape == "cross":
        arm = r * 0.3
        inside = (np.maximum(np.abs(u), np.abs(v)) <= r) & ((np.abs(u) <= arm) | (np.abs(v) <= arm))
    elif shape == "stripes":
        period = rng.uniform(3.5, 6.0, (n, 1, 1)).astype(np.float32)
        inside = (np.maximum(np.abs(u), np.abs(v)) <= r) & (np.mod(u, period) < period / 2)
    elif shape == "checks":
        period = rng.uniform(3.0, 5.0, (n, 1, 1)).astype(np.float32)
        cells = np.floor(u / period) + np.floor(v / period)
        inside = (np.maximum(np.abs(u), np.abs(v)) <= r) & (np.mod(cells, 2) == 0)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return inside.astype(np.float32)


def _blob(rng: np.random.Generator, n: int) -> np.ndarray:
    """A small soft distractor blob per picture, (n, SIDE, SIDE) in [0, 1]."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) + 0.5
    cx = rng.uniform(2, 30, (n, 1, 1)).astype(np.float32)
    cy = rng.uniform(2, 30, (n, 1, 1)).astype(np.float32)
    sigma = rng.uniform(1.0, 2.2, (n, 1, 1)).astype(np.float32)
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))


def _pictures(cls: int, rng: np.random.Generator, n: int) -> np.ndarray:
    colour, shape = CLASSES[cls]
    mask = _mask(shape, rng, n)[..., None]
    base = np.asarray(COLOURS[colour], dtype=np.float32)
    fg = np.clip(base + rng.normal(0, 0.07, (n, 1, 1, 3)), 0, 1) * rng.uniform(
        0.75, 1.1, (n, 1, 1, 1)
    )
    # A background of low saturation, dark or light, so brightness alone separates nothing.
    grey = rng.uniform(0.05, 0.6, (n, 1, 1, 1))
    bg = np.clip(grey + rng.normal(0, 0.06, (n, 1, 1, 3)), 0, 1)
    picture = bg * (1 - mask) + fg * mask
    blob = _blob(rng, n)[..., None] * rng.uniform(0.4, 0.9, (n, 1, 1, 1))
    blob_colour = rng.uniform(0, 1, (n, 1, 1, 3))
    picture = picture * (1 - blob) + blob_colour * blob
    picture += rng.normal(0, 0.05, picture.shape)
    return np.clip(np.rint(picture * 255), 0, 255).astype(np.uint8)


def generate(
    train_per_class: int = TRAIN_PER_CLASS, test_per_class: int = TEST_PER_CLASS, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): uint8 (N, 32, 32, 3) pictures, shuffled, and labels."""
    rng = np.random.default_rng(seed)
    parts = []
    for per_class in (train_per_class, test_per_class):
        x = np.concatenate([_pictures(c, rng, per_class) for c in range(len(CLASSES))])
        y = np.repeat(np.arange(len(CLASSES), dtype=np.uint8), per_class)
        order = rng.permutation(len(y))
        parts += [x[order], y[order]]
    return parts[0], parts[1], parts[2], parts[3]


def load_or_build(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cached pictures, built and written atomically on first use."""
    path = cache_path(folder)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"]
    except (FileNotFoundError, ValueError, OSError, KeyError, EOFError):
        pass  # not built yet, or unreadable: build it again
    x_train, y_train, x_test, y_test = generate()
    buffer = io.BytesIO()
    np.savez(buffer, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    atomic_write_bytes(path, buffer.getvalue())
    return x_train, y_train, x_test, y_test
