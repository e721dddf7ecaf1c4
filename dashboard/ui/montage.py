"""Numpy-only image helpers: colour maps, tile montages and PNG data URIs.

A layer with 64 feature maps is sent to the browser as ONE picture (a montage of tiles) instead
of 64 heatmaps of every cell: a PNG of a few kilobytes against megabytes of JSON.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

# Matplotlib's viridis, sampled at 9 stops (perceptually uniform, readable in gray print).
_VIRIDIS_STOPS = (
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
)
BACKGROUND = (255, 255, 255)


@lru_cache(maxsize=4)
def colormap_lut(name: str) -> np.ndarray:
    """A (256, 3) uint8 lookup table for 'viridis', 'gray' or 'rdbu' (diverging, blue-white-red)."""
    x = np.linspace(0.0, 1.0, 256)
    if name == "gray":
        return np.repeat((x * 255).round().astype(np.uint8)[:, None], 3, axis=1)
    stops = np.array(
        _VIRIDIS_STOPS if name == "viridis" else ((33, 102, 172), (247, 247, 247), (178, 24, 43)),
        dtype=float,
    )
    at = np.linspace(0.0, 1.0, len(stops))
    lut = np.stack([np.interp(x, at, stops[:, k]) for k in range(3)], axis=1)
    return lut.round().astype(np.uint8)


def normalize(tiles: np.ndarray, per_tile: bool = True) -> np.ndarray:
    """Scale (n, h, w) values into [0, 1], per tile (like matplotlib's imshow) or all together.
    Colour tiles (n, h, w, 3) are scaled per tile over all three channels, so hues are kept.

    A constant tile (a dead feature map) becomes 0, not a division by zero.
    """
    t = np.nan_to_num(np.asarray(tiles, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if t.size == 0:
        return t
    axes = tuple(range(1, t.ndim)) if per_tile else None
    lo = t.min(axis=axes, keepdims=per_tile)
    hi = t.max(axis=axes, keepdims=per_tile)
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    return (t - lo) / span


def grid_columns(n: int) -> int:
    """Columns of a tile grid: 4×4 for the notebook's 16 filters, wider rows for big layers."""
    if n <= 0:
        return 1
    if n <= 16:
        return min(n, math.ceil(math.sqrt(n)))
    return min(16, math.ceil(math.sqrt(2 * n)))


@dataclass(frozen=True)
class Montage:
    image: np.ndarray  # (H, W, 3) uint8
    columns: int
    rows: int
    tile: int  # displayed tile edge in image pixels (tiles are square after upscaling)
    tile_h: int
    tile_w: int
    gap: int
    band: int  # pixels above each tile row reserved for its label

    def origin(self, i: int) -> tuple[int, int]:
        """Top-left pixel (x, y) of tile i's image area."""
        r, c = divmod(i, self.columns)
        return c * (self.tile_w + self.gap), r * (self.tile_h + self.gap + self.band) + self.band


def upscale_factor(h: int, w: int, target: int = 48) -> int:
    """Integer nearest-neighbour factor bringing a tile's long edge to about `target` pixels."""
    return max(1, round(target / max(h, w, 1)))


def montage(
    tiles01: np.ndarray,
    cmap: str = "viridis",
    columns: int | None = None,
    target: int = 48,
    gap_frac: float = 0.08,
    band_frac: float = 0.3,
) -> Montage:
    """Colour (n, h, w) values in [0, 1] and lay them out in a grid with gaps and label bands.
    Tiles that are already colour pictures, (n, h, w, 3) in [0, 1], are laid out as they are."""
    n, h, w = tiles01.shape[:3]
    cols = columns or grid_columns(n)
    rows = max(1, math.ceil(n / cols))
    f = upscale_factor(h, w, target)
    th, tw = h * f, w * f
    gap = max(1, round(max(th, tw) * gap_frac))
    band = max(1, round(max(th, tw) * band_frac))
    idx = (np.clip(tiles01, 0.0, 1.0) * 255).round().astype(np.uint8)
    colored = idx if idx.ndim == 4 else colormap_lut(cmap)[idx]  # (n, h, w, 3)
    if f > 1:
        colored = colored.repeat(f, axis=1).repeat(f, axis=2)
    height = rows * (th + gap + band) - gap
    width = cols * (tw + gap) - gap
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    out = Montage(canvas, cols, rows, max(th, tw), th, tw, gap, band)
    for i in range(n):
        x, y = out.origin(i)
        canvas[y : y + th, x : x + tw] = colored[i]
    return out


def png_data_uri(image: np.ndarray, scale: int = 1) -> str:
    """A PNG data URI of a uint8 (h, w) or (h, w, 3) image, optionally upscaled (nearest)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (normalize(arr[None])[0] * 255).round().astype(np.uint8)
    if scale > 1:
        arr = arr.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
