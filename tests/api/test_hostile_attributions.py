"""Hostile input to the attribution and filter-page endpoints: every row of the table "Attributions
and filter pages" in docs/SECURITY.md, sent through the Flask test client.

`POST /api/runs/{id}/attributions` and `GET /api/runs/{id}/filters/{layer}/{k}/analysis` answer
each with a 4xx and a sentence (or a field message) saying what was wrong, never a 5xx; nothing
is queued, no job is made, no run changes. The table and the cases are checked against each other
both ways: a row with no case here, or a case with no row, fails.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any

import pytest

from tests.api.support import fake_trained_run, refused
from tests.api.test_hostile_input import DOC, Case, raw, snapshot, upload

SECTION = "### Attributions and filter pages"
URL = "/api/runs/{done}/attributions"
FILTER = "/api/runs/{done}/filters/"


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header says width × height pixels (a bomb: decoded, a
    30,000 × 30,000 grayscale picture is 900 MB); the pixels are never there."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1) * 4)  # four rows of the promised picture
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def body(**settings: Any) -> dict[str, Any]:
    return {"json": {"test_index": 0, "method": "saliency"} | settings}


def form(picture: bytes, **settings: str) -> dict[str, Any]:
    sent = upload(picture)
    sent["data"] |= settings
    sent["headers"] = {"X-Requested-With": "test"}
    return sent


BOMB = png_claiming(30_000, 30_000)
GRID = [[0] * 28 for _ in range(28)]

CASES = [
    # --- the method and its settings ---------------------------------------------------------
    Case(
        "An unknown method",
        "post",
        URL,
        422,
        "must be one of: saliency",
        body(method="lime"),
        "method",
    ),
    Case(
        "A method that is not text",
        "post",
        URL,
        422,
        "must be one of: saliency",
        body(method=["saliency"]),
        "method",
    ),
    Case("No method", "post", URL, 422, "is required", {"json": {"test_index": 0}}, "method"),
    Case(
        "An unknown attribution setting",
        "post",
        URL,
        422,
        "is not a known setting",
        body(steps=5),
        "steps",
    ),
    Case("A negative target", "post", URL, 422, "a class from 0 to 9", body(target=-1), "target"),
    Case(
        "A target past the last class",
        "post",
        URL,
        422,
        "a class from 0 to 9",
        body(target=10),
        "target",
    ),
    Case(
        "A target of 10^400",
        "post",
        URL,
        422,
        "a class from 0 to 9",
        body(target=10**400),
        "target",
    ),
    Case("A target of 2.5", "post", URL, 422, "a class from 0 to 9", body(target=2.5), "target"),
    Case("true as a target", "post", URL, 422, "a class from 0 to 9", body(target=True), "target"),
    Case("A target as text", "post", URL, 422, "a class from 0 to 9", body(target="3"), "target"),
    Case(
        "A target of 5,000 digits in a form",
        "post",
        URL,
        422,
        "a class from 0 to 9",
        form(b"GIF89a", method="saliency", target="9" * 5000),
        "target",
    ),
    Case(
        "A superscript digit as a target in a form",
        "post",
        URL,
        422,
        "a class from 0 to 9",
        form(b"GIF89a", method="saliency", target="²"),
        "target",
    ),
    Case(
        '"true" as the target of a picture',
        "post",
        URL,
        422,
        "needs a test image",
        {"json": {"image": GRID, "method": "saliency", "target": "true"}},
        "target",
    ),
    Case(
        "A Grad-CAM layer the run does not have",
        "post",
        URL,
        422,
        "must be a conv layer of this run: conv2d_1, conv2d_2",
        body(method="gradcam", layer="conv2d_9"),
        "layer",
    ),
    Case(
        "A Grad-CAM layer that is not a conv layer",
        "post",
        URL,
        422,
        "must be a conv layer of this run: conv2d_1, conv2d_2",
        body(method="gradcam", layer="dense_1"),
        "layer",
    ),
    Case(
        "A layer that is not text",
        "post",
        URL,
        422,
        "must be a conv layer of this run",
        body(method="hirescam", layer={"name": "conv2d_1"}),
        "layer",
    ),
    Case(
        "A layer for a method that takes none",
        "post",
        URL,
        422,
        "only gradcam and hirescam take a layer",
        body(layer="conv2d_1"),
        "layer",
    ),
    Case(
        "An unknown baseline",
        "post",
        URL,
        422,
        "must be one of: black, blur, mean",
        body(method="integrated_gradients", baseline="white"),
        "baseline",
    ),
    Case(
        "sanity_check as text",
        "post",
        URL,
        422,
        "must be true or false",
        body(sanity_check="yes"),
        "sanity_check",
    ),
    # --- the input --------------------------------------------------------------------------
    Case(
        "A negative test_index",
        "post",
        URL,
        422,
        "0 or more",
        body(test_index=-1),
        "test_index",
    ),
    Case(
        "A test_index past the test set",
        "post",
        URL,
        422,
        "between 0 and 1999",
        body(test_index=2000),
        "test_index",
    ),
    Case(
        "true as a test_index",
        "post",
        URL,
        422,
        "0 or more",
        body(test_index=True),
        "test_index",
    ),
    Case(
        "Two inputs at once",
        "post",
        URL,
        422,
        "send exactly one input",
        body(image=GRID),
        "body",
    ),
    Case(
        "A list instead of an object",
        "post",
        URL,
        422,
        "send a JSON object",
        {"json": [{"test_index": 0, "method": "saliency"}]},
        "body",
    ),
    Case(
        "An image of the wrong size",
        "post",
        URL,
        422,
        "got 27 rows",
        {"json": {"image": GRID[:27], "method": "saliency"}},
        "image",
    ),
    Case(
        "A data URL that is not text",
        "post",
        URL,
        422,
        "must be a data URL string",
        {"json": {"image_data_url": 7, "method": "saliency"}},
        "image_data_url",
    ),
    Case(
        "A data URL that is not base64",
        "post",
        URL,
        422,
        "not valid base64",
        {"json": {"image_data_url": "data:image/png;base64,!!!", "method": "saliency"}},
        "image",
    ),
    Case(
        "A picture that cannot be decoded",
        "post",
        URL,
        422,
        "not a picture we can read",
        form(b"#!/bin/sh\nrm -rf /\n", method="saliency"),
        "image",
    ),
    Case(
        "A truncated PNG",
        "post",
        URL,
        422,
        "not a picture we can read",
        {"json": {"image_data_url": data_url(BOMB[:40]), "method": "saliency"}},
        "image",
    ),
    Case(
        "A PNG bomb (30,000 × 30,000 pixels in 200 bytes)",
        "post",
        URL,
        422,
        "at most 4 megapixels",
        {"json": {"image_data_url": data_url(BOMB), "method": "saliency"}},
        "image",
    ),
    Case(
        "A PNG bomb as an upload",
        "post",
        URL,
        422,
        "at most 4 megapixels",
        form(BOMB, method="gradcam"),
        "image",
    ),
    Case(
        "A picture over 2 MB",
        "post",
        URL,
        413,
        "pictures up to 2.0 MB",
        form(b"\x89PNG\r\n\x1a\n" + b"0" * (3 * 1024 * 1024), method="saliency"),
    ),
    Case(
        "A data URL over 2 MB",
        "post",
        URL,
        413,
        "pictures up to 2.0 MB",
        {"json": {"image_data_url": data_url(b"0" * (3 * 1024 * 1024)), "method": "saliency"}},
    ),
    Case(
        "Broken JSON",
        "post",
        URL,
        400,
        "not valid JSON",
        raw('{"test_index": 0, "method": "saliency"'),
    ),
    # --- the run ----------------------------------------------------------------------------
    Case(
        "A run that is still training",
        "post",
        "/api/runs/{running}/attributions",
        409,
        "no trained model yet (it is running)",
        body(),
    ),
    Case(
        "A run that does not exist",
        "post",
        "/api/runs/00000000000000000000000000000000/attributions",
        404,
        "no run with id",
        body(),
    ),
    # --- one filter's page ------------------------------------------------------------------
    Case(
        "A filter page of a layer the run does not have",
        "get",
        FILTER + "conv2d_9/0/analysis",
        404,
        "has no conv layer 'conv2d_9'; its conv layers are: conv2d_1, conv2d_2",
    ),
    Case(
        "A filter page of a layer that is not a conv layer",
        "get",
        FILTER + "dense_1/0/analysis",
        404,
        "has no conv layer 'dense_1'",
    ),
    Case(
        "A layer name of 5,000 characters",
        "get",
        FILTER + "x" * 5000 + "/0/analysis",
        404,
        "x…'; its conv layers are",
    ),
    Case(
        "A filter past the layer's last",
        "get",
        FILTER + "conv2d_1/16/analysis",
        404,
        "conv2d_1 has filters 0 to 15; there is no filter 16",
    ),
    Case(
        "A negative filter", "get", FILTER + "conv2d_1/-1/analysis", 404, "is not a filter number"
    ),
    Case(
        "A filter number that is not one",
        "get",
        FILTER + "conv2d_1/1.5/analysis",
        404,
        "'1.5' is not a filter number",
    ),
    Case(
        "A filter number of 30 digits",
        "get",
        FILTER + "conv2d_1/" + "9" * 30 + "/analysis",
        404,
        "is not a filter number",
    ),
    Case(
        "A superscript digit as a filter",
        "get",
        FILTER + "conv2d_1/%C2%B2/analysis",
        404,
        "is not a filter number",
    ),
    Case(
        "The filter page of a run still training",
        "get",
        "/api/runs/{running}/filters/conv2d_1/0/analysis",
        409,
        "no trained model yet",
    ),
    # --- a layer's ablation curve ---------------------------------------------------------
    Case(
        "An ablation curve without a layer",
        "get",
        "/api/runs/{done}/ablation",
        422,
        "give a conv layer name, such as conv2d_1",
        field="layer",
    ),
    Case(
        "An ablation curve of a layer that is not a conv layer",
        "get",
        "/api/runs/{done}/ablation?layer=dense_1",
        422,
        "has no conv layer 'dense_1'; its conv layers are: conv2d_1, conv2d_2",
        field="layer",
    ),
    Case(
        "../ as the ablation curve's layer",
        "get",
        "/api/runs/{done}/ablation?layer=..%2F..%2Fmodel.keras",
        422,
        "has no conv layer '../../model.keras'",
        field="layer",
    ),
    Case(
        "The ablation curve of a run still training",
        "get",
        "/api/runs/{running}/ablation?layer=conv2d_1",
        409,
        "no trained model yet (it is running)",
    ),
]


@pytest.fixture
def runs(client, api_store):
    def create(**config: Any) -> str:
        response = client.post("/api/runs", json={"epochs": 2, **config})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    ids = {"running": create(name="running"), "done": create(name="done")}
    assert api_store.claim(ids["running"], "w/1/t", 60)
    fake_trained_run(api_store, ids["done"])
    return ids


def jobs(store) -> list[str]:
    with store.engine.connect() as connection:
        from sqlalchemy import text

        return [row[0] for row in connection.execute(text("SELECT id FROM jobs"))]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_each_row_gets_a_4xx_that_says_why_and_queues_nothing(client, api_store, runs, case):
    before = snapshot(api_store)
    response = client.open(case.path.format(**runs), method=case.method.upper(), **case.kw)
    answer = refused(response, case.status, case.field, case.says)
    if case.status == 422:
        assert [e["field"] for e in answer["errors"]] == [case.field]  # that field alone
    else:
        assert len(answer["error"]) < 400  # a long name is cut short, not echoed in full
    assert snapshot(api_store) == before
    assert jobs(api_store) == []


def table_rows() -> list[str]:
    """The first cell of every row of the section's table in docs/SECURITY.md."""
    text = DOC.read_text()
    assert SECTION in text, f"docs/SECURITY.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [re.split(r" \| ", row[2:], maxsplit=1)[0] for row in rows[2:]]  # past the header


def test_the_table_and_the_cases_match_both_ways():
    rows, cases = table_rows(), [case.input for case in CASES]
    assert [r for r in rows if r not in cases] == [], "rows with no case here"
    assert [c for c in cases if c not in rows] == [], "cases with no row in docs/SECURITY.md"
    assert len(set(cases)) == len(cases)


def test_a_good_request_still_gets_its_job(client, runs):
    """The refusals above are not everything refused: the same endpoints take good requests."""
    done = runs["done"]
    good = client.post(
        f"/api/runs/{done}/attributions", json={"test_index": 0, "method": "saliency"}
    )
    assert good.status_code == 202, good.get_json()
    grid = {"image": GRID, "method": "gradcam", "layer": "conv2d_1", "target": 3}
    assert client.post(f"/api/runs/{done}/attributions", json=grid).status_code == 202
    page = client.get(f"/api/runs/{done}/filters/conv2d_2/31/analysis")
    assert page.status_code == 202, page.get_json()
