"""Turn a picture a user uploads or draws into an MNIST-style input: 28×28 uint8, white on black.

The models were trained on MNIST, whose digits are white on black, cropped to their ink, scaled so
the longer side is 20 px and centred by centre of mass in a 28×28 field. A photo of a digit on
paper or a canvas drawing only gets a meaningful prediction after the same preparation.

Uploads are untrusted: the size of the file and the pixel count in the header are checked before
anything is decoded, only common formats are opened, a picture is shrunk while (JPEG) or right
after it is decoded and before any conversion, only DECODE_SLOTS pictures are decoded at a time,
and every refusal is an `ImageRejected` whose message is a sentence a user can act on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import math
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MAX_BYTES = 2 * 1024 * 1024
# A digit needs a few hundred pixels a side; these caps leave room for a screenshot or a phone
# photo and bound what a decode costs. PNG, GIF, BMP and WebP are decoded whole (at most 16 MB as
# RGBA); libjpeg scales a JPEG down while decoding it (Image.draft), so a phone photo of 48
# megapixels costs no more than 3 of them.
MAX_PIXELS = 4_000_000
MAX_JPEG_PIXELS = 48_000_000
# Decodes at once in this process, over every thread; a request waits at most DECODE_WAIT seconds
# for a turn, then is told the server is busy.
DECODE_SLOTS = 2
DECODE_WAIT = 10.0
SIDE = 28  # MNIST field
DIGIT_BOX = 20  # MNIST scaled each digit's longer side to 20 px
MIN_SIDE = 8
WORKING_SIDE = 512  # plenty for a 20 px result; bounds memory for large photos
MIN_CONTRAST = 24.0  # grey levels between background and ink below which we call it blank
INK_THRESHOLD = 0.3  # fraction of peak ink that counts for the bounding box (ignores smudges)
NOISE_FLOOR = 0.1  # fraction of peak ink below which a pixel is background (paper texture)
BLANK_MESSAGE = "The image is blank: no digit stands out from the background."
BUSY_MESSAGE = "The server is busy reading other pictures; try again in a few seconds."
ORIENTATION = 0x0112  # the EXIF tag phones use for a photo taken sideways
REDUCIBLE = ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F")  # modes Image.reduce averages

_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)


class ImageRejected(ValueError):
    """The upload cannot be used as a model input; str(error) says why, for the user."""


class DecoderBusy(ImageRejected):
    """Every decode slot stayed taken for DECODE_WAIT seconds: the picture was not looked at."""


# --- decoding -------------------------------------------------------------------------------------


def decode_data_url(
    text: str, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Decode a "data:image/png;base64,..." string (dcc.Upload, a canvas) like `decode_upload`."""
    return decode_upload(
        data_url_bytes(text, max_bytes=max_bytes), max_bytes=max_bytes, max_pixels=max_pixels
    )


def data_url_bytes(text: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The file bytes of a "data:image/...;base64,..." string, refused past `max_bytes`."""
    if not isinstance(text, str) or not text.startswith("data:") or "," not in text:
        raise ImageRejected("Expected an image as a data URL (data:image/...;base64,...).")
    header, payload = text.split(",", 1)
    if not header.endswith(";base64"):
        raise ImageRejected("The data URL must be base64-encoded (data:image/...;base64,...).")
    # Four base64 characters carry three bytes: refuse an oversized upload before decoding it.
    if len(payload) > 4 * math.ceil(max_bytes / 3) + 4:
        raise ImageRejected(_too_big_message(len(payload) * 3 // 4, max_bytes))
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRejected("The data URL is not valid base64.") from None


def decode_upload(
    data: bytes | str, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Uploaded file bytes (or a data URL string) -> MNIST-style uint8 array of shape (28, 28).

    Raises ImageRejected for anything that is not a usable PNG/JPEG/GIF/BMP/WebP picture, and
    DecoderBusy (an ImageRejected) when other pictures kept every decode slot. Only the first
    frame of an animation is used.
    """
    if isinstance(data, str):
        return decode_data_url(data, max_bytes=max_bytes, max_pixels=max_pixels)
    if len(data) > max_bytes:
        raise ImageRejected(_too_big_message(len(data), max_bytes))
    with decode_slot():
        img = _open_checked(bytes(data), max_pixels)
        return to_mnist(_grayscale(img))


@contextlib.contextmanager
def decode_slot(wait: float | None = None) -> Iterator[None]:
    """One of DECODE_SLOTS turns to decode a picture, or DecoderBusy after `wait` seconds."""
    if not _decode_slots.acquire(timeout=DECODE_WAIT if wait is None else wait):
        raise DecoderBusy(BUSY_MESSAGE)
    try:
        yield
    finally:
        _decode_slots.release()


def _too_big_message(size: int, limit: int) -> str:
    return f"The file is {_in_words(size)}; pictures up to {_in_words(limit)} are accepted."


def _in_words(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{math.ceil(size / 1024)} KB"


def _open_checked(data: bytes, max_pixels: int, draft_mode: str = "L") -> Image.Image:
    """Open, check the header's size, then decode fully, so a damaged file fails here, not later.

    Image.open only reads the header, so a picture with too many pixels is refused before they
    are allocated. Pillow's decoders raise many exception types on malformed data (OSError,
    SyntaxError, struct.error, IndexError...); to the user they all mean the same thing.
    """
    try:
        img = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except Image.DecompressionBombError:
        raise ImageRejected(_too_many_pixels_message(None, max_pixels)) from None
    except Exception:
        raise ImageRejected(
            "This file is not a picture we can read; upload a PNG, JPEG, GIF, BMP or WebP image."
        ) from None
    width, height = img.size
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageRejected(
            f"The picture is {width}×{height} pixels; it needs at least {MIN_SIDE} pixels a side."
        )
    limit = max(max_pixels, MAX_JPEG_PIXELS) if img.format == "JPEG" else max_pixels
    if width * height > limit:
        raise ImageRejected(_too_many_pixels_message((width, height), limit))
    if img.format == "JPEG":
        # Let libjpeg decode at 1/2..1/8 scale and straight to grey: a phone photo then costs a
        # fraction of its full size, and we only need 20 px of it in the end.
        img.draft(draft_mode, (WORKING_SIDE, WORKING_SIDE))
    try:
        img.load()
    except Exception:
        raise ImageRejected(
            "The picture could not be decoded: the file is damaged or incomplete (truncated)."
        ) from None
    return img


def _too_many_pixels_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    what = f"{size[0]}×{size[1]} pixels" if size else "too large"
    return f"The picture is {what}; at most {max_pixels / 1e6:g} megapixels are accepted."


def _grayscale(img: Image.Image) -> np.ndarray:
    """Any mode -> float64 grey levels in [0, 255], shrunk to at most WORKING_SIDE a side.

    The picture is shrunk first, in the mode it was decoded in, and only then converted and
    turned upright (phones store photos sideways with an EXIF orientation tag), so no conversion
    ever copies the full-size picture. Transparent pixels are composited onto a background that
    contrasts with the visible strokes: black strokes on a transparent canvas land on white,
    white strokes on black, so both come out as a digit rather than as nothing.
    """
    orientation = img.getexif().get(ORIENTATION, 1)
    transparent = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    wide = img.mode in ("I", "F") or img.mode.startswith("I;16")
    small = _upright(_shrink(img, transparent, wide), orientation)
    if wide:
        # 16/32-bit greys: converting to "L" would clip everything above 255 to white.
        return _stretch(_as_array(small.convert("F")))
    if transparent:
        la = _as_array(small.convert("RGBA").convert("LA"))
        return _composite(la[..., 0], la[..., 1] / 255.0)
    if small.mode not in ("L", "RGB", "CMYK", "YCbCr", "P", "1"):
        small = small.convert("RGB")
    return _as_array(small.convert("L"))


def _shrink(img: Image.Image, transparent: bool, wide: bool) -> Image.Image:
    """Box-reduce by an integer factor so the longer side is at most WORKING_SIDE.

    Image.reduce averages in the picture's own mode; palette, 1-bit and 16-bit pictures (at most
    MAX_PIXELS, one or two bytes a pixel) are first converted to the smallest mode it can average.
    """
    factor = math.ceil(max(img.size) / WORKING_SIDE)
    if factor <= 1:
        return img
    if img.mode not in REDUCIBLE or (transparent and img.mode not in ("LA", "RGBA")):
        img = img.convert("F" if wide else "RGBA" if transparent else "L")
    return img.reduce(factor)


def _upright(img: Image.Image, orientation: int) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return img if method is None else img.transpose(method)


def _as_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


def _stretch(grey: np.ndarray) -> np.ndarray:
    """Linearly map the darkest value to 0 and the brightest to 255 (all zeros if constant)."""
    low, span = grey.min(), np.ptp(grey)
    return (grey - low) * (255.0 / span) if span > 0 else np.zeros_like(grey)


def _composite(luma: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Alpha-blend onto black if the visible strokes are light, else onto white."""
    coverage = alpha.sum()
    if coverage == 0:
        return np.full_like(luma, 255.0)  # fully transparent: blank, rejected downstream
    strokes_are_light = (luma * alpha).sum() / coverage > 127.5
    background = 0.0 if strokes_are_light else 255.0
    return luma * alpha + background * (1.0 - alpha)


# --- MNIST-style preparation ----------------------------------------------------------------------


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """Grey levels (h, w) in [0, 255] -> centred white-on-black uint8 (28, 28), like MNIST."""
    if grey.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {grey.shape}")
    ink = _ink_map(grey)
    top, bottom, left, right = _ink_box(ink)
    digit = _fit_longer_side(ink[top:bottom, left:right], DIGIT_BOX)
    if digit.max() <= 0:  # a speck that vanished when resized
        raise ImageRejected(BLANK_MESSAGE)
    field = _place_by_centre_of_mass(digit, SIDE)
    return np.rint(field * (255.0 / field.max())).astype(np.uint8)


def _ink_map(grey: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1], whatever the polarity of the picture.

    The background is the median of a thin ring along the border (digits rarely touch every
    edge). If it is lighter than the middle of the grey range the digit is dark on light, like
    pen on paper, and the picture is inverted so ink is bright, as in MNIST.
    """
    ring = max(1, min(grey.shape) // 20)
    border = np.concatenate(
        [grey[:ring].ravel(), grey[-ring:].ravel(), grey[:, :ring].ravel(), grey[:, -ring:].ravel()]
    )
    background = float(np.median(border))
    if background > (grey.min() + grey.max()) / 2:
        grey, background = 255.0 - grey, 255.0 - background
    ink = np.clip(grey - background, 0.0, None)
    peak = ink.max()
    if peak < MIN_CONTRAST:
        raise ImageRejected(BLANK_MESSAGE)
    ink /= peak
    ink[ink < NOISE_FLOOR] = 0.0
    return ink


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), exclusive ends, of the pixels with clear ink."""
    rows = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _fit_longer_side(patch: np.ndarray, side: int) -> np.ndarray:
    """Resize so the longer side is `side` px, keeping the aspect ratio (Lanczos, anti-aliased)."""
    height, width = patch.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(patch.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)  # Lanczos rings below 0


def _place_by_centre_of_mass(digit: np.ndarray, side: int) -> np.ndarray:
    """Paste `digit` into a side×side black field with its centre of mass at the field's centre.

    The shift is rounded to whole pixels and clamped so that no ink is cut off.
    """
    height, width = digit.shape
    total = digit.sum()
    cy = (digit.sum(axis=1) @ np.arange(height)) / total
    cx = (digit.sum(axis=0) @ np.arange(width)) / total
    centre = (side - 1) / 2
    top = min(max(round(centre - cy), 0), side - height)
    left = min(max(round(centre - cx), 0), side - width)
    field = np.zeros((side, side))
    field[top : top + height, left : left + width] = digit
    return field


# --- other input forms ----------------------------------------------------------------------------


def to_png_bytes(img28: np.ndarray, scale: int = 1) -> bytes:
    """Encode a uint8 image, (h, w) or (h, w, 3), as PNG, to show the user what the model sees.

    `scale` enlarges it with nearest-neighbour sampling so the pixels stay crisp in a browser.
    """
    a = np.asarray(img28)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (h, w) or (h, w, 3) image, got {a.dtype} {a.shape}")
    img = Image.fromarray(a)
    if scale > 1:
        img = img.resize((a.shape[1] * scale, a.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def from_nested_list(values: Any) -> np.ndarray:
    """A 28×28 list of pixel values in [0, 255] (JSON from the API) -> uint8 (28, 28).

    Values are grey levels as in the stored probe inputs (0 black, 255 white); fractions are
    rounded. The shape is checked on the lists first, so a huge body is refused without converting.
    """
    if not _is_square_grid(values, SIDE):
        raise ImageRejected(f"The image must be {SIDE} rows of {SIDE} numbers each.")
    try:
        a = np.array(values)
    except (TypeError, ValueError):  # ragged: a cell holding a list
        a = None
    # Let numpy infer the type rather than forcing float: a string "7" or None must not pass.
    if a is None or a.shape != (SIDE, SIDE) or a.dtype.kind not in "iuf":
        raise ImageRejected("Every pixel value must be a number from 0 to 255.")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ImageRejected("The image contains NaN or infinite values; use numbers from 0 to 255.")
    if a.min() < 0 or a.max() > 255:
        raise ImageRejected("Pixel values must be between 0 and 255.")
    return np.rint(a).astype(np.uint8)


def _is_square_grid(values: Any, side: int) -> bool:
    """True if `values` is a sequence of `side` rows, each of length `side` (without converting)."""
    try:
        return len(values) == side and all(len(row) == side for row in values)
    except TypeError:  # not a sequence, or rows that are plain numbers
        return False


# --- any dataset's input size and channels -------------------------------------------------------


def decode_for_shape(
    data: bytes | str,
    shape: tuple[int, ...],
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """A picture (file bytes or a data URL) made the input of a dataset whose images are `shape`:
    (h, w) grayscale or (h, w, 3) colour, uint8.

    28×28 grayscale, the MNIST-like datasets, gets `decode_upload`'s MNIST-style preparation. Any
    other shape is a photo of the kind the dataset holds: turned upright, transparent parts laid
    on white, cropped about its centre to the dataset's aspect ratio, then resized to h×w (box
    filter), in grey or in colour. The same limits and decode slots as `decode_upload` apply.
    """
    shape = tuple(int(v) for v in shape)
    if shape == (SIDE, SIDE):
        return decode_upload(data, max_bytes=max_bytes, max_pixels=max_pixels)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3):
        raise ValueError(f"expected (h, w) or (h, w, 3), got {shape}")
    if isinstance(data, str):
        data = data_url_bytes(data, max_bytes=max_bytes)
    if len(data) > max_bytes:
        raise ImageRejected(_too_big_message(len(data), max_bytes))
    colour = len(shape) == 3
    with decode_slot():
        img = _open_checked(bytes(data), max_pixels, draft_mode="RGB" if colour else "L")
        wide = img.mode in ("I", "F") or img.mode.startswith("I;16")
        if colour and not wide:
            picture = _colour(img)
        else:
            grey = _grayscale(img)
            picture = np.repeat(grey[..., None], 3, axis=2) if colour else grey
        return _crop_resize(picture, shape[0], shape[1])


def _colour(img: Image.Image) -> np.ndarray:
    """Any mode -> float64 RGB (h, w, 3) in [0, 255], shrunk first, transparency on white."""
    orientation = img.getexif().get(ORIENTATION, 1)
    transparent = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    small = _upright(_shrink(img, transparent, False), orientation)
    if transparent:
        rgba = _as_array(small.convert("RGBA"))
        alpha = rgba[..., 3:] / 255.0
        return rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return _as_array(small.convert("RGB"))


def _crop_resize(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop about the centre to height:width, then resize to height×width (box filter)."""
    h, w = picture.shape[:2]
    if h * width > w * height:  # taller than the target: crop rows
        keep = max(1, round(w * height / width))
        top = (h - keep) // 2
        picture = picture[top : top + keep]
    else:
        keep = max(1, round(h * width / height))
        left = (w - keep) // 2
        picture = picture[:, left : left + keep]
    planes = picture[..., None] if picture.ndim == 2 else picture
    resized = [
        np.asarray(
            Image.fromarray(planes[..., k].astype(np.float32)).resize(
                (width, height), Image.Resampling.BOX
            ),
            dtype=np.float64,
        )
        for k in range(planes.shape[2])
    ]
    out = np.stack(resized, axis=2) if picture.ndim == 3 else resized[0]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
