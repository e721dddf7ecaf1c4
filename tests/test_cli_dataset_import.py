"""CnnLensClient.import_dataset and `cnnlens import-dataset` against the real API over HTTP: the
upload is streamed as multipart, the answer is the dataset (importing), a refusal is its
sentence. No import job runs here (tests/integration/test_dataset_flow.py runs one)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from shared.client import ApiError
from tests.test_cli import run_cli, server  # noqa: F401  (the HTTP server fixture)


def tiny_npz(path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (20, 12, 12), dtype=np.uint8),
        "y_train": np.arange(20) % 2,
        "x_test": rng.integers(0, 256, (6, 12, 12), dtype=np.uint8),
        "y_test": np.arange(6) % 2,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def test_the_client_uploads_a_dataset_and_gets_it_importing(server, tmp_path):  # noqa: F811
    answer = server.client.import_dataset(tiny_npz(tmp_path / "tiny.npz"), "tiny two")
    assert answer["name"] == "tiny two" and answer["status"] == "importing"
    assert server.client.dataset(answer["id"])["status"] == "importing"


def test_a_refused_dataset_raises_the_servers_sentence(server, tmp_path):  # noqa: F811
    path = tmp_path / "notes.txt"
    path.write_text("not an archive")
    with pytest.raises(ApiError) as refused:
        server.client.import_dataset(path, "notes")
    assert 400 <= refused.value.status < 500 and len(str(refused.value)) > 20
    assert run_cli(server, "import-dataset", str(path), "--name", "notes") == 2
