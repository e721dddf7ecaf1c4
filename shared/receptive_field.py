"""Which input pixels a unit of a layer sees: its receptive field, from the run config alone.

A unit at (row, col) of a layer's output depends on a window of the layer's input: rows
row·s − p … row·s − p + k − 1 for a kernel (or pool) of size k, stride s and p rows of padding
before the first. Applying that rule from the layer back to the image gives the box of input
pixels, which is clipped to the image (padding pixels are not pixels). Layers that keep positions
(activation, batch normalisation, dropout) change nothing.

Boxes are half-open, like numpy slices: `[row0, col0, row1, col1]` means
`image[row0:row1, col0:col1]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Window:
    """One spatial layer as far as positions go: size, stride, padding before, per axis."""

    size: int
    stride: int
    pad_rows: int
    pad_cols: int


def _same_padding(n: int, k: int, s: int) -> int:
    """What TensorFlow pads before the first row for padding 'same' on an input of n rows."""
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2


def windows(layers: Sequence[Any], upto: int, input_hw: tuple[int, int]) -> list[Window]:
    """The windows of config layers 0..upto (inclusive), given the image's (height, width)."""
    h, w = input_hw
    out: list[Window] = []
    for layer in list(layers)[: upto + 1]:
        kind = getattr(layer, "type", None)
        if kind == "conv2d":
            k, s = int(layer.kernel_size), int(layer.strides)
            if layer.padding == "same":
                pr, pc = _same_padding(h, k, s), _same_padding(w, k, s)
                h, w = math.ceil(h / s), math.ceil(w / s)
            else:
                pr = pc = 0
                h, w = (h - k) // s + 1, (w - k) // s + 1
            out.append(Window(k, s, pr, pc))
        elif kind in ("maxpool2d", "avgpool2d"):
            k = int(layer.pool_size)
            out.append(Window(k, k, 0, 0))
            h, w = h // k, w // k
        elif kind in ("flatten", "dense", "globalavgpool2d", "globalmaxpool2d"):
            raise ValueError(f"layer {upto} is not a spatial layer: a {kind} comes before it")
    return out


def box(
    row: int, col: int, layers: Sequence[Any], upto: int, input_hw: tuple[int, int]
) -> list[int]:
    """[row0, col0, row1, col1] of the input pixels unit (row, col) of layer `upto` sees."""
    r0, r1, c0, c1 = row, row, col, col  # inclusive bounds in the current layer's coordinates
    for win in reversed(windows(layers, upto, input_hw)):
        r0, r1 = r0 * win.stride - win.pad_rows, r1 * win.stride - win.pad_rows + win.size - 1
        c0, c1 = c0 * win.stride - win.pad_cols, c1 * win.stride - win.pad_cols + win.size - 1
    h, w = input_hw
    return [max(r0, 0), max(c0, 0), min(r1 + 1, h), min(c1 + 1, w)]


def size(layers: Sequence[Any], upto: int, input_hw: tuple[int, int]) -> int:
    """The side of the receptive field of one unit of layer `upto`, before clipping."""
    side, jump = 1, 1
    for win in windows(layers, upto, input_hw):
        side += (win.size - 1) * jump
        jump *= win.stride
    return side
