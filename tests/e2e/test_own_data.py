"""In a real browser, issue 12's "done when": a folder of one's own labelled pictures imported on
the Datasets page, a run trained on it from the New run page, a `.keras` model trained outside CNN
Lens on the same pictures imported on the Import model page, and the two compared.

The pictures are made here (three classes of 16×16 colour patterns, as PNGs in train/<class>/ and
test/<class>/ folders of a zip). The outside model is built and fitted with plain Keras in a child
process (this process never imports TensorFlow) and saved with model.save("model.keras"); the child
starts first and trains while the browser imports the pictures.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.e2e import support as e2e
from tests.e2e.support import step

e2e.require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

CLASSES = ("bars", "checks", "dots")  # sorted: the import numbers class folders in name order
SIDE = 16
PER_CLASS = {"train": 24, "test": 8}
DATASET_NAME = "e2e own pictures"
RUN_URL = re.compile(r"/run/([0-9a-f]{32})$")

# The outside model: the notebook's layers on the pictures' shape, fitted with plain Keras. It
# prints its own accuracy on the test pictures, which CNN Lens' evaluation must reproduce.
KERAS_SCRIPT = """
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras

data = np.load(sys.argv[1])
x_train, x_test = data["x_train"] / 255.0, data["x_test"] / 255.0
keras.utils.set_random_seed(7)
layers = keras.layers
model = keras.Sequential([
    keras.Input(shape=x_train.shape[1:]),
    layers.Conv2D(16, 3, activation="relu"),
    layers.MaxPooling2D(),
    layers.Conv2D(32, 3, activation="relu"),
    layers.Flatten(),
    layers.Dense(int(data["y_train"].max()) + 1, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, data["y_train"], epochs=6, batch_size=16, verbose=0)
predicted = model.predict(x_test, verbose=0).argmax(axis=1)
model.save(sys.argv[2])
print(json.dumps({"accuracy": float((predicted == data["y_test"]).mean())}))
"""


def pattern(label: int, rng: np.random.Generator) -> np.ndarray:
    """One 16×16 RGB picture: red horizontal bars, a green checkerboard or a blue dot, at a random
    phase or place, on a dark noisy background."""
    img = rng.integers(0, 40, (SIDE, SIDE, 3)).astype(np.int32)
    rows, cols = np.mgrid[:SIDE, :SIDE]
    if label == 0:
        mask = (rows + rng.integers(0, 4)) % 4 < 2
        colour = (220, 40, 40)
    elif label == 1:
        mask = ((rows // 3) + (cols // 3) + rng.integers(0, 2)) % 2 == 0
        colour = (40, 200, 60)
    else:
        cy, cx = rng.integers(4, SIDE - 4, 2)
        mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= 9
        colour = (50, 80, 230)
    img[mask] = colour
    return np.clip(img + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    """pictures.zip (for the Datasets page) and the same pictures as arrays (for the outside
    model), test pictures in the order the import reads them (class, then file name)."""
    folder = tmp_path_factory.mktemp("own-data")
    rng = np.random.default_rng(12)
    arrays: dict[str, list] = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    with zipfile.ZipFile(folder / "pictures.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for part, count in PER_CLASS.items():
            for label, name in enumerate(CLASSES):
                for i in range(count):
                    image = pattern(label, rng)
                    archive.writestr(f"{part}/{name}/{i:03d}.png", png(image))
                    arrays[f"x_{part}"].append(image)
                    arrays[f"y_{part}"].append(label)
    np.savez(folder / "pictures.npz", **{k: np.array(v) for k, v in arrays.items()})
    return {"zip": folder / "pictures.zip", "npz": folder / "pictures.npz", "dir": folder}


def start_outside_training(pictures: dict[str, Path]) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            KERAS_SCRIPT,
            str(pictures["npz"]),
            str(pictures["dir"] / "m.keras"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def outside_model(child: subprocess.Popen, pictures: dict[str, Path]) -> tuple[Path, float]:
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, f"the outside Keras training failed:\n{err[-3000:]}"
    return pictures["dir"] / "m.keras", json.loads(out.strip().splitlines()[-1])["accuracy"]


def test_own_pictures_a_run_on_them_and_an_outside_model_compared(page, stack, pictures):
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    child = start_outside_training(pictures)
    try:
        run_own_data_flow(page, stack, pictures, child)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not console_errors, "the browser console had errors:\n" + "\n".join(console_errors)


def run_own_data_flow(page: Any, stack: Any, pictures: dict[str, Path], child: Any) -> None:
    with step(page, "import the zip of class folders on the Datasets page"):
        page.goto("/datasets")
        expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
        page.locator("#ds-name").fill(DATASET_NAME)
        with page.expect_file_chooser() as chooser:
            page.locator("#ds-import").click()
        chooser.value.set_files(str(pictures["zip"]))
        expect(page.locator("#ds-status")).to_contain_text("is being imported")
    with step(page, "the table follows the import until the dataset is ready"):
        row = page.locator("#ds-table tr", has_text=DATASET_NAME)
        expect(row).to_contain_text("ready", timeout=90_000)
        expect(row).to_contain_text("16×16 RGB")
        expect(row).to_contain_text("72 training, 24 test")
        (dataset,) = [d for d in stack.api("GET", "/datasets")["datasets"] if not d["builtin"]]
        assert dataset["name"] == DATASET_NAME and dataset["status"] == "ready", dataset
        assert dataset["classes"] == list(CLASSES) and dataset["shape"] == [SIDE, SIDE, 3]
    with step(page, "its page shows the classes and a sample of each"):
        row.get_by_role("link", name=DATASET_NAME).click()
        page.wait_for_url(re.compile(rf"/datasets\?id={dataset['id']}$"))
        detail = page.locator(".lens-card", has_text="Delete this dataset")
        expect(detail).to_contain_text(", ".join(CLASSES))
        expect(page.locator("#ds-samples .main-svg").first).to_be_attached()

    with step(page, "pick it in the New run page's list and train one epoch"):
        page.goto("/new")
        select = page.locator(e2e.dash_id(type="new-field", field="dataset"))
        option = select.locator("option", has_text=DATASET_NAME)
        expect(option).to_have_text(f"{DATASET_NAME} (imported, 16×16 RGB)")
        with page.expect_response(lambda r: e2e.is_dash_update(r, "new-config")):
            select.select_option(value=option.get_attribute("value"))
        for field, value in (("name", "e2e trained here"), ("epochs", "1")):
            box = page.locator(e2e.dash_id(type="new-field", field=field))
            with page.expect_response(lambda r: e2e.is_dash_update(r, "new-config")):
                box.fill(value)
                box.press("Tab")
        expect(page.locator("#new-submit")).to_be_enabled()
        page.locator("#new-submit").click()
        page.wait_for_url(RUN_URL)
        match = RUN_URL.search(page.url)
        assert match
        trained_id = match.group(1)
        config = stack.api("GET", f"/runs/{trained_id}")["config"]
        assert config["dataset"] == dataset["id"] and config["epochs"] == 1, config
        assert config["layers"][-1]["units"] == len(CLASSES), config["layers"][-1]

    with step(page, "import the model trained outside CNN Lens on the Import model page"):
        keras_file, outside_accuracy = outside_model(child, pictures)
        page.goto("/import")
        page.locator("#imp-upload input[type=file]").set_input_files(str(keras_file))
        expect(page.locator("#imp-file")).to_have_text("m.keras")
        page.locator("#imp-dataset").click()
        choice = page.get_by_role("option", name=re.compile(re.escape(DATASET_NAME)))
        expect(choice).to_be_visible()
        choice.click()
        expect(page.locator("#imp-dataset")).to_contain_text(DATASET_NAME)
        page.locator("#imp-name").fill("e2e trained elsewhere")
        page.locator("#imp-submit").click()
        link = page.locator("#imp-result a", has_text="e2e trained elsewhere")
        expect(link).to_be_visible(timeout=30_000)
        imported_id = (link.get_attribute("href") or "").rsplit("/", 1)[-1]
    with step(page, "both runs finish; the import scores what Keras scored on the test pictures"):
        trained = stack.wait_for_run(trained_id, timeout=180)
        imported = stack.wait_for_run(imported_id, timeout=180)
        assert imported["origin"] == "imported" and imported["dataset"] == dataset["id"]
        assert imported["test"]["accuracy"] == pytest.approx(outside_accuracy, abs=1e-6)
        assert trained["origin"] != "imported" and trained["test"]["accuracy"] is not None

    with step(page, "compare them: one test picture through both models, named by its class"):
        page.goto(f"/compare?runs={trained_id},{imported_id}")
        chips = page.locator("#cmp-chips")
        expect(chips).to_contain_text("e2e trained here")
        expect(chips).to_contain_text("e2e trained elsewhere")
        expect(page.locator("#cmp-input-preview")).to_have_attribute(
            "src", re.compile("^data:image/png")
        )
        expect(page.locator("#cmp-input-caption")).to_contain_text(re.compile("|".join(CLASSES)))
        preds = page.locator("#cmp-preds .lens-cmp-col")
        expect(preds).to_have_count(2)
        for i in range(2):
            expect(preds.nth(i)).to_contain_text(re.compile(rf"predicts ({'|'.join(CLASSES)})"))
            for name in CLASSES:  # the probability bars are labelled with the dataset's classes
                expect(preds.nth(i).locator(".js-plotly-plot")).to_contain_text(name)
    with step(page, "both runs' feature maps and filters are drawn, matched to run A's"):
        expect(page.locator("#cmp-acts .lens-cmp-col .js-plotly-plot")).to_have_count(2)
        expect(page.locator("#cmp-acts .lens-cmp-col image").first).to_be_attached()
        heads = page.locator("#cmp-filters .lens-cmp-col-head")
        expect(heads).to_have_count(2)
        expect(heads.nth(1)).to_contain_text("mean r")
        expect(page.locator("#cmp-filters .lens-cmp-col .js-plotly-plot")).to_have_count(2)
        e2e.screenshot(page, "compare")
