"""What a picture may cost before it is refused or used (issue 11, item 3).

A small file can describe a huge picture (a 107 KB PNG of 5000×5000 pixels decodes to 100 MB of
RGBA): the pixel count is capped at what a picture of a digit needs, pictures are shrunk before
any mode conversion copies them, and only a few are decoded at a time however many threads ask.
Memory is measured in a fresh process (its peak RSS), because Pillow allocates outside Python.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from shared import images
from shared.images import DecoderBusy, ImageRejected, decode_upload

ROOT = Path(__file__).resolve().parent.parent


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def digit_picture(size: tuple[int, int], mode: str = "RGBA") -> Image.Image:
    """A black '7' drawn over most of a white (or transparent) picture of `size`."""
    paper = (0, 0, 0, 0) if mode == "RGBA" else "white"
    img = Image.new(mode, size, paper)
    w, h = size
    ink = (0, 0, 0, 255) if mode == "RGBA" else "black"
    pen = ImageDraw.Draw(img)
    pen.line([(w // 8, h // 8), (w // 2, h // 8), (w // 4, h * 7 // 8)], fill=ink, width=w // 20)
    return img


MEASURE = """
import resource, sys, time
data = open(sys.argv[1], "rb").read()
from shared.images import ImageRejected, decode_upload
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu = time.process_time()
try:
    decode_upload(data)
    answer = "accepted"
except ImageRejected as exc:
    answer = str(exc)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"answer": answer, "peak_mb": grown / 1024, "cpu_s": time.process_time() - cpu}))
"""


def measure(tmp_path: Path, data: bytes) -> dict:
    """Decode `data` in a fresh interpreter: its answer, peak memory growth and CPU time."""
    path = tmp_path / "picture"
    path.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + MEASURE, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_a_small_file_of_25_megapixels_is_refused_from_its_header(tmp_path, monkeypatch):
    data = encode(Image.new("RGBA", (5000, 5000), (255, 255, 255, 255)))
    assert len(data) < 150_000  # it compresses to about a hundred kilobytes
    decoded = []
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: decoded.append(self))
    with pytest.raises(ImageRejected, match=r"5000×5000 pixels; at most 4 megapixels"):
        decode_upload(data)
    assert decoded == []  # refused before a pixel was decoded
    cost = measure(tmp_path, data)  # before the cap: +290 MB and ~1 CPU-s, then "blank"
    assert "at most 4 megapixels" in cost["answer"]
    assert cost["peak_mb"] < 20, cost


def test_a_picture_at_the_cap_costs_a_few_times_its_decoded_size(tmp_path):
    data = encode(digit_picture((2000, 2000)))  # 4 megapixels, 16 MB as RGBA
    cost = measure(tmp_path, data)
    assert cost["answer"] == "accepted"
    assert cost["peak_mb"] < 50, cost  # decoded once, copied once premultiplied, then small


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "P", "1", "LA"])
def test_no_conversion_copies_the_full_size_picture(monkeypatch, mode):
    picture = digit_picture((2000, 1600), "RGBA" if mode in ("RGBA", "LA") else "RGB")
    if mode != "RGBA":
        picture = picture.convert(mode)
    data = encode(picture)
    converted: list[tuple[str, str, tuple[int, int]]] = []
    original = Image.Image.convert

    def recording_convert(self, target=None, *args, **kwargs):
        # Image.reduce premultiplies RGBA/LA itself ("RGBa"/"La"); anything else is ours.
        if target not in ("RGBa", "La") and self.mode not in ("RGBa", "La"):
            converted.append((self.mode, target, self.size))
        return original(self, target, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "convert", recording_convert)
    digit = decode_upload(data)
    assert digit.shape == (28, 28) and digit.max() == 255
    large = [c for c in converted if max(c[2]) > images.WORKING_SIDE]
    # Palette and 1-bit pictures cannot be averaged as they are: one conversion to a small mode.
    allowed = 1 if mode in ("P", "1") else 0
    assert len(large) <= allowed, large
    if large:
        assert large[0][1] in ("L", "RGBA")


def test_a_phone_photo_is_accepted_and_decoded_scaled_down():
    photo = digit_picture((4000, 3000), "RGB")  # 12 megapixels, over the PNG cap
    data = encode(photo, "JPEG", quality=80)
    sizes = []
    original = Image.Image.load

    def recording_load(self):
        done = original(self)
        sizes.append(self.size)
        return done

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image.Image, "load", recording_load)
        digit = decode_upload(data)
    assert digit.shape == (28, 28) and digit.max() == 255
    assert max(max(s) for s in sizes) <= 1000  # libjpeg decoded it at 1/4 scale or less
    with pytest.raises(ImageRejected, match="at most 4 megapixels"):
        decode_upload(encode(photo))  # the same picture as PNG would be decoded whole


def test_only_a_few_pictures_are_decoded_at_once(monkeypatch):
    data = encode(digit_picture((600, 600)))
    active, most = 0, 0
    lock = threading.Lock()
    original = images._open_checked

    def slow_open(*args, **kwargs):
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        try:
            time.sleep(0.05)
            return original(*args, **kwargs)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(images, "_open_checked", slow_open)
    results: list[object] = []

    def decode():
        try:
            results.append(decode_upload(data))
        except Exception as exc:  # pragma: no cover - shown in the assertion below
            results.append(exc)

    threads = [threading.Thread(target=decode) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(isinstance(r, np.ndarray) for r in results), results
    assert len(results) == 8
    assert most <= images.DECODE_SLOTS < 8


def test_a_request_that_waits_too_long_for_a_turn_is_told_the_server_is_busy(monkeypatch):
    monkeypatch.setattr(images, "DECODE_WAIT", 0.05)
    data = encode(digit_picture((100, 100)))
    holders = [images.decode_slot() for _ in range(images.DECODE_SLOTS)]
    for holder in holders:
        holder.__enter__()
    try:
        with pytest.raises(DecoderBusy, match="busy reading other pictures; try again"):
            decode_upload(data)
    finally:
        for holder in holders:
            holder.__exit__(None, None, None)
    assert decode_upload(data).shape == (28, 28)  # the slots are free again
