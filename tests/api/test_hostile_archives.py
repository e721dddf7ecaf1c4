"""Hostile and broken dataset archives: every row of docs/SECURITY.md's "Dataset imports" table,
sent to POST /api/datasets through the Flask test client, its import job then run in this process
as the analysis worker would run it.

Each is refused with a sentence — a 4xx at the upload, or the dataset `failed` with the sentence in
`error` — and leaves nothing behind: no dataset folder, and once the failed row is deleted, no
row. The table and these cases are one list: a row without a case, or a case without a row, fails,
and each row must quote the sentence its case gets. The rows of the "Model imports" table each
name the test that proves them; that test must exist.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.api import test_api_models_import
from tests.api.support import documented
from tests.api.test_api_datasets import folder_zip, npz_bytes, png, post
from worker.dataset_jobs import import_job

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "SECURITY.md"


def zipped(entries: dict[str, bytes | None], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of `entries`; a None value makes the name a folder entry, a name ending in '@' a
    symbolic link (to /etc/passwd)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            if data is None:
                archive.writestr(zipfile.ZipInfo(name), b"")
            elif name.endswith("@"):
                link = zipfile.ZipInfo(name[:-1])
                link.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(link, data)
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def good(classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 3) -> dict[str, bytes | None]:
    colours = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]
    return {
        f"{part}/{name}/{i}.png": png(colours[c % 3])
        for part in ("train", "test")
        for c, name in enumerate(classes)
        for i in range(per_class)
    }


def noisy_png() -> bytes:
    """A 12×12 picture of noise: its compressed pixels take most of the file."""
    pixels = np.random.default_rng(1).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def arrays(**changes: Any) -> bytes:
    rng = np.random.default_rng(0)
    base = {
        "x_train": rng.integers(0, 256, (20, 10, 10), dtype=np.uint8),
        "y_train": np.arange(20) % 2,
        "x_test": rng.integers(0, 256, (6, 10, 10), dtype=np.uint8),
        "y_test": np.arange(6) % 2,
    }
    return npz_bytes(**(base | changes))


@dataclass
class Case:
    input: str  # the row's first cell in docs/SECURITY.md
    body: Callable[[], bytes]
    says: str  # what the answer or the failed dataset's error must contain
    status: int = 422  # the upload's answer; 202 when the import job refuses it
    filename: str = "pictures.zip"
    settings: dict[str, int] = field(default_factory=dict)
    ready: bool = False  # accepted: the job makes a ready dataset whose notes say `says`


CASES = [
    Case(
        "A zip bomb (a picture of 50 MB of zeros, 50 KB zipped)",
        lambda: zipped({"train/a/0.png": b"\0" * (50 * 1024 * 1024)}),
        "zip bomb",
    ),
    Case("`../` in a path", lambda: zipped(good() | {"train/cat/../../../evil.png": png()}), "..'"),
    Case("An absolute path", lambda: zipped(good() | {"/etc/cron.d/x.png": png()}), "absolute"),
    Case("A drive letter or a backslash", lambda: zipped({"C:\\x\\0.png": png()}), "backslash"),
    Case(
        "A symbolic link",
        lambda: zipped(good() | {"train/cat/link.png@": b"/etc/passwd"}),
        "symbolic link",
    ),
    Case(
        "A file that is not a picture",
        lambda: zipped(good() | {"train/cat/run-me.exe": b"MZ\x90\x00"}),
        "is not a picture",
        202,
    ),
    Case(
        "A program named .png",
        lambda: zipped(good() | {"train/cat/fake.png": b"MZ\x90\x00" * 10}),
        "is not a PNG or JPEG picture",
        202,
    ),
    Case(
        "A picture cut short inside the zip",
        lambda: zipped(good() | {"train/cat/broken.png": noisy_png()[:300]}),
        "train/cat/broken.png",
        202,
    ),
    Case(
        "Pictures of mixed sizes",
        lambda: zipped(good() | {"train/cat/wide.png": png(size=(30, 12))}),
        "cropped about the centre and resized to 12×12, the most common size",
        202,
        ready=True,
    ),
    Case("An empty class folder", lambda: zipped(good() | {"train/bird/": None}), "is empty", 202),
    Case(
        "A class with no training images (.npz)",
        lambda: arrays(y_train=np.where(np.arange(20) % 3 == 1, 2, np.arange(20) % 3)),
        "no training images",
        202,
        "pictures.npz",
    ),
    Case(
        "A label out of range (.npz)",
        lambda: arrays(y_train=np.arange(20) % 2 - 1),
        "out of range",
        202,
        "pictures.npz",
    ),
    Case(
        "Test classes the training set lacks",
        lambda: zipped(good() | {"test/bird/0.png": png()}),
        "the training set lacks",
        202,
    ),
    Case(
        "An object array in an .npz (a pickle)",
        lambda: arrays(x_train=np.array([{"evil": 1}] * 20, dtype=object)),
        "never loaded",
        202,
        "pictures.npz",
    ),
    Case("A truncated upload", lambda: folder_zip()[:-30], "truncated"),
    Case("Not an archive", lambda: b"GIF89a, renamed", "not a readable", filename="pictures.npz"),
    Case(
        "More pictures than CNNLENS_DATASET_MAX_IMAGES",
        lambda: zipped(good(per_class=6)),
        "at most 10",
        202,
        settings={"dataset_max_images": 10},
    ),
    Case(
        "An upload over CNNLENS_DATASET_MAX_BYTES",
        lambda: zipped(good()) + b"\0" * 6000,
        "too large",
        413,
        settings={"dataset_max_bytes": 5000, "max_request_bytes": 1000},
    ),
]


def table(title: str) -> list[list[str]]:
    """The rows (cells) of the table under `### title` in docs/SECURITY.md, header excluded."""
    text = DOC.read_text()
    start = text.index(f"### {title}\n")
    end = text.find("\n#", start + 1)
    lines = text[start : end if end > 0 else None].splitlines()
    rows = [line for line in lines if line.startswith("| ")]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]
    return [row for row in cells if set(row[0]) != {"-"}]  # not the header's underline


def unescaped(cell: str) -> str:
    return cell.replace("\\<", "<").replace("\\>", ">").replace("\\|", "|")


def nothing_left(store: Any) -> bool:
    root = store.settings.data_dir / "datasets"
    return not root.exists() or not [p for p in root.iterdir() if p.name != "builtin"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.input)
def test_a_bad_archive_gets_a_sentence_and_leaves_nothing(client, api_store, case):
    for name, value in case.settings.items():
        setattr(api_store.settings, name, value)
    response = post(client, case.body(), filename=case.filename, name="hostile")
    assert response.status_code == case.status, response.get_json()
    answer = documented(response, "create_dataset")
    if case.status != 202:
        text = answer.get("error") or " ".join(e["message"] for e in answer["errors"])
        assert case.says in text, text
        assert (
            nothing_left(api_store)
            and client.get("/api/datasets").get_json()["datasets"][-1]["builtin"]
        )
        return
    status = import_job(api_store, answer["job_id"])
    shown = documented(client.get(answer["url"]), "get_dataset")
    if case.ready:
        assert status == "succeeded" and shown["status"] == "ready", shown
        assert any(case.says in note for note in shown["notes"]), shown["notes"]
        return
    assert status == "failed" and shown["status"] == "failed", shown
    assert case.says in shown["error"], shown["error"]
    assert api_store.get_job(answer["job_id"])["error"] == shown["error"]
    assert nothing_left(api_store)
    assert client.delete(answer["url"]).status_code == 200  # the row is all that was left
    assert client.get(answer["url"]).status_code == 404


def test_the_dataset_table_in_the_docs_is_these_cases_with_their_sentences():
    rows = {row[0]: row for row in table("Dataset imports")}
    cases = {case.input: case for case in CASES}
    assert sorted(rows) == sorted(cases), set(rows) ^ set(cases)
    for name, (_input, _where, gets) in rows.items():
        case = cases[name]
        assert case.says in unescaped(gets), (name, gets)
        assert gets.startswith(str(case.status)), (name, gets)


# Model imports: each row names the test that sends it (a case of test_api_models_import.CASES,
# or a test function in tests/test_model_import.py, which builds the files with Keras itself).
KERAS = "tests/test_model_import.py"
REFUSED = "test_hostile_and_unfit_files_are_refused_with_a_sentence"
MODEL_ROWS = {
    "A Lambda layer carrying code": f"{KERAS}::test_a_lambda_carrying_code_is_refused_and_its_code_never_runs",
    "A registered custom layer": "a custom layer",
    "A branching Functional model": f"{KERAS}::{REFUSED}",
    "An option CNN Lens cannot build": "an option",
    "A legacy .h5 model renamed .keras": "an .h5 renamed",
    "A pickle renamed .keras": "a pickle renamed",
    "A zip bomb (50 MB of config.json in 50 KB)": "a zip bomb",
    "Weights padded far beyond the layers": "fat weights",
    "An entry Keras never writes": "an extra entry",
    "Weights of the wrong shape": f"{KERAS}::test_wrong_weight_shapes_fail_the_evaluation_with_a_sentence",
    "An input or output that does not fit the dataset": f"{KERAS}::{REFUSED}",
    "Weights stored outside the file": f"{KERAS}::test_weights_stored_outside_the_file_are_refused",
    "Not multipart": "not multipart",
}


def test_every_model_import_row_is_sent_by_a_test():
    rows = [row[0] for row in table("Model imports")]
    assert sorted(rows) == sorted(MODEL_ROWS), set(rows) ^ set(MODEL_ROWS)
    api_cases = {case[0] for case in test_api_models_import.CASES}
    for row, where in MODEL_ROWS.items():
        if "::" in where:
            path, name = where.split("::")
            assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), (row, where)
        else:
            assert where in api_cases, (row, where)
