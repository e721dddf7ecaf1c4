"""Uploaded and drawn pictures become MNIST-style inputs; unusable files are refused in words."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from shared.images import (
    ImageRejected,
    decode_data_url,
    decode_upload,
    from_nested_list,
    to_png_bytes,
)


def draw_digit(size=(240, 180), ink=0, paper=255, mode="L") -> Image.Image:
    """A '7' with a crossbar, off-centre in the upper left, like a quick photo or canvas sketch."""
    img = Image.new(mode, size, paper)
    pen = ImageDraw.Draw(img)
    pen.line([(30, 20), (110, 20), (60, 140)], fill=ink, width=12)
    pen.line([(60, 80), (100, 80)], fill=ink, width=10)
    return img


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def assert_mnist_like(digit: np.ndarray) -> None:
    """White digit on black, stretched to 255, 20 px tall or wide, centred by mass."""
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit.max() == 255 and np.median(digit) == 0
    rows_with_ink, cols_with_ink = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    spans = (np.ptp(rows_with_ink) + 1, np.ptp(cols_with_ink) + 1)
    assert 18 <= max(spans) <= 20
    ink = digit.astype(float)
    # Most of the ink in the central 20×20; not all, since centring by mass moves a top-heavy
    # '7' down (MNIST's digits spill out of that square too).
    assert ink[4:24, 4:24].sum() >= 0.9 * ink.sum()
    rows, cols = np.indices(ink.shape)
    centre = ((rows * ink).sum() / ink.sum(), (cols * ink).sum() / ink.sum())
    assert centre == pytest.approx((13.5, 13.5), abs=1.0)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return decode_upload(encode(draw_digit()))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


# --- conversion -----------------------------------------------------------------------------------


def test_black_on_white_becomes_centred_white_on_black(reference):
    assert_mnist_like(reference)
    # The right way up: the first row with ink is the bar of the '7', ten pixels or more wide.
    first_row = reference[np.flatnonzero(reference.any(1))[0]]
    assert (first_row > 128).sum() >= 10
    assert reference[0, 0] == reference[27, 27] == 0


def test_white_on_black_gives_the_same_digit(reference):
    inverse = decode_upload(encode(draw_digit(ink=255, paper=0)))
    assert_mnist_like(inverse)
    np.testing.assert_array_equal(inverse, reference)


def test_grey_photo_of_paper_gives_the_same_digit(reference):
    photo = decode_upload(encode(draw_digit(ink=60, paper=190, mode="RGB"), "JPEG", quality=90))
    assert_mnist_like(photo)
    assert similarity(photo, reference) > 0.95


def test_large_photo_is_reduced_and_still_right(reference):
    big = draw_digit().resize((2400, 1800), Image.Resampling.NEAREST)
    result = decode_upload(encode(big, "JPEG", quality=85))
    assert_mnist_like(result)
    assert similarity(result, reference) > 0.95


def test_transparent_canvas_with_black_strokes(reference):
    canvas = Image.new("RGBA", (240, 180), (0, 0, 0, 0))  # what a cleared HTML canvas exports
    ImageDraw.Draw(canvas).bitmap((0, 0), draw_digit(ink=255, paper=0), fill=(0, 0, 0, 255))
    result = decode_upload(encode(canvas))
    assert_mnist_like(result)
    np.testing.assert_array_equal(result, reference)


def test_transparent_canvas_with_white_strokes(reference):
    canvas = Image.new("RGBA", (240, 180), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).bitmap((0, 0), draw_digit(ink=255, paper=0), fill=(255, 255, 255, 255))
    np.testing.assert_array_equal(decode_upload(encode(canvas)), reference)


def _as_mode(mode: str) -> Image.Image:
    digit = draw_digit()
    if mode == "I;16":
        return Image.fromarray(np.asarray(digit).astype(np.uint16) * 257)
    if mode == "LA":
        return Image.merge(
            "LA", (Image.new("L", digit.size, 0), Image.eval(digit, lambda v: 255 - v))
        )
    return digit.convert(mode)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("1", "PNG"),
        ("1", "BMP"),
        ("P", "GIF"),
        ("P", "PNG"),
        ("LA", "PNG"),
        ("I;16", "PNG"),
        ("RGB", "JPEG"),
        ("CMYK", "JPEG"),
        ("RGB", "WEBP"),
        ("RGBA", "WEBP"),
    ],
)
def test_every_mode_and_format_gives_the_digit(reference, mode, fmt):
    result = decode_upload(encode(_as_mode(mode), fmt))
    assert_mnist_like(result)
    assert similarity(result, reference) > 0.95


def test_sideways_phone_photo_is_turned_upright(reference):
    orientation = Image.Exif()
    orientation[0x0112] = 6  # "rotate 90° clockwise to display", as phones write it
    sideways = draw_digit().transpose(Image.Transpose.ROTATE_90)
    np.testing.assert_array_equal(decode_upload(encode(sideways, exif=orientation)), reference)


def test_animated_gif_uses_its_first_frame(reference):
    frames = [draw_digit().convert("P"), Image.new("P", (240, 180), 0)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    np.testing.assert_array_equal(decode_upload(data), reference)


def test_data_url_from_a_canvas(reference):
    url = "data:image/png;base64," + base64.b64encode(encode(draw_digit())).decode()
    np.testing.assert_array_equal(decode_data_url(url), reference)
    np.testing.assert_array_equal(decode_upload(url), reference)


# --- refusals -------------------------------------------------------------------------------------


def test_refuses_what_is_not_an_image():
    with pytest.raises(ImageRejected, match="not a picture we can read"):
        decode_upload(b"hello")


def test_refuses_a_format_outside_the_list():
    with pytest.raises(ImageRejected, match="PNG, JPEG, GIF, BMP or WebP"):
        decode_upload(encode(draw_digit(), "TIFF"))


def test_refuses_a_truncated_png():
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8)
    data = encode(Image.fromarray(noise))
    with pytest.raises(ImageRejected, match="damaged or incomplete"):
        decode_upload(data[: len(data) // 2])


def test_refuses_a_truncated_jpeg():
    data = encode(draw_digit(mode="RGB"), "JPEG")
    with pytest.raises(ImageRejected, match="damaged or incomplete"):
        decode_upload(data[: len(data) // 2])


@pytest.mark.parametrize("size", [(1, 1), (5, 100)])
def test_refuses_a_tiny_image(size):
    with pytest.raises(ImageRejected, match="at least 8 pixels a side"):
        decode_upload(encode(Image.new("L", size, 255)))


def test_refuses_50_megapixels_without_decoding_them(monkeypatch):
    data = encode(Image.new("1", (8000, 6250)))  # compresses to a few kilobytes
    assert len(data) < 100_000
    decoded = []
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: decoded.append(self))
    with pytest.raises(ImageRejected, match=r"8000×6250 pixels; at most 4 megapixels"):
        decode_upload(data)
    assert decoded == []


def test_refuses_a_file_over_the_size_limit():
    data = encode(draw_digit())
    with pytest.raises(ImageRejected, match="KB; pictures up to"):
        decode_upload(data, max_bytes=len(data) - 1)
    with pytest.raises(ImageRejected, match=r"The file is 2\.5 MB; pictures up to 2\.0 MB"):
        decode_upload(b"\0" * (5 * 2**19))
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    with pytest.raises(ImageRejected, match="KB; pictures up to"):
        decode_data_url(url, max_bytes=len(data) // 2)


@pytest.mark.parametrize(
    "picture",
    [Image.new("L", (50, 50), 255), Image.new("RGBA", (50, 50), (0, 0, 0, 0))],
    ids=["white", "transparent"],
)
def test_refuses_a_blank_image(picture):
    with pytest.raises(ImageRejected, match="blank"):
        decode_upload(encode(picture))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "data URL"),
        ("data:image/png,abc", "base64-encoded"),
        ("data:image/png;base64,@@@@", "not valid base64"),
    ],
)
def test_refuses_a_malformed_data_url(text, message):
    with pytest.raises(ImageRejected, match=message):
        decode_data_url(text)


# --- other input forms ----------------------------------------------------------------------------


def test_png_bytes_round_trip(reference):
    shown = Image.open(io.BytesIO(to_png_bytes(reference)))
    assert (shown.format, shown.mode, shown.size) == ("PNG", "L", (28, 28))
    np.testing.assert_array_equal(np.asarray(shown), reference)
    assert Image.open(io.BytesIO(to_png_bytes(reference, scale=4))).size == (112, 112)


def test_nested_list_is_validated_and_rounded():
    values = [[0.0] * 28 for _ in range(28)]
    values[3][4] = 254.6
    result = from_nested_list(values)
    assert result.dtype == np.uint8 and result.shape == (28, 28)
    assert result[3, 4] == 255 and result.sum() == 255


def _grid_with(value) -> list[list]:
    grid = [[0] * 28 for _ in range(28)]
    grid[5][5] = value
    return grid


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (_grid_with(float("nan")), "NaN or infinite"),
        (_grid_with(float("inf")), "NaN or infinite"),
        (_grid_with(256), "between 0 and 255"),
        (_grid_with(-1), "between 0 and 255"),
        (_grid_with("7"), "must be a number"),
        (_grid_with([1, 2]), "must be a number"),
        ([[0] * 28] * 27, "28 rows of 28"),
        ([[0] * 28] * 27 + [[0] * 27], "28 rows of 28"),
        ([0] * 28, "28 rows of 28"),
        (None, "28 rows of 28"),
    ],
)
def test_nested_list_refusals(values, message):
    with pytest.raises(ImageRejected, match=message):
        from_nested_list(values)
