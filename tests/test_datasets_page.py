"""The Datasets page and the New run page's dataset list, with an imported dataset made in the test
(the import job run in this process), in English and in Spanish."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from dashboard.datasets import views
from dashboard.new_run import form
from shared.datasets import load_raw
from shared.store_datasets import DatasetCatalogue
from tests import test_dashboard as td
from tests.test_dashboard import page, texts
from tests.test_i18n import in_lang
from worker.dataset_jobs import import_job

dash_app = td.dash_app
store = td.store


def imported(store, name="Leaves") -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for c, cls in enumerate(("oak", "elm")):
            for i in range(4):
                picture = io.BytesIO()
                Image.new("L", (10, 14), 60 + 120 * c).save(picture, format="PNG")
                archive.writestr(f"{cls}/{i}.png", picture.getvalue())
    catalogue = DatasetCatalogue.of(store)
    dataset_id = catalogue.create(name, "zip")
    catalogue.save_upload(dataset_id, io.BytesIO(buffer.getvalue()), 10**7)
    job_id = store.create_job("import_dataset", None, {"dataset_id": dataset_id})
    catalogue.set_job(dataset_id, job_id)
    load_raw.cache_clear()
    assert import_job(store, job_id) == "succeeded"
    return dataset_id


def test_datasets_page_lists_and_shows_an_imported_dataset(store):
    dataset_id = imported(store)
    with in_lang("en"):
        listing = texts(page("datasets").layout())
        one = texts(page("datasets").layout(id=dataset_id))
        builtin = texts(page("datasets").layout(id="shapes-rgb"))
        missing = texts(page("datasets").layout(id="0" * 32))
    assert "Import a dataset" in listing and "Leaves" in listing and "shapes" in listing.lower()
    assert "14×10 grayscale" in one and "elm, oak" in one and "Delete this dataset" in one
    assert "6 training, 2 test" in one
    assert "32×32 RGB" in builtin and "Delete this dataset" not in builtin
    assert "no dataset with this id" in missing
    with in_lang("es"):
        spanish = texts(page("datasets").layout(id=dataset_id))
    assert "Importar un conjunto de datos" in spanish and "en gris" in spanish


def test_new_run_offers_ready_imported_datasets(store):
    dataset_id = imported(store, "Leaves")
    with in_lang("en"):
        options, _notes = form.dataset_options()
    values = [o["value"] for o in options]
    assert values[:4] == ["mnist-sample", "mnist", "fashion_mnist", "shapes-rgb"]
    assert dataset_id in values
    label = next(o["label"] for o in options if o["value"] == dataset_id)
    assert "Leaves" in label and "14×10" in label


def test_the_page_says_what_the_api_answered():
    assert "being imported" in texts(views_message({"status": 202, "body": {"name": "x"}}))
    refused = {"status": 422, "body": {"errors": [{"field": "file", "message": "bad zip"}]}}
    assert "bad zip" in texts(views_message(refused))
    assert "No file was chosen" in texts(views_message({"status": 0, "body": {}}))
    assert views.importing([{"status": "importing"}]) and not views.importing([{"status": "ready"}])


def views_message(result):
    with in_lang("en"):
        return page("datasets").result_message(result)


def test_runs_and_compare_filters_offer_imported_datasets_by_name(store):
    """The Runs page's and the compare picker's dataset filters list a ready imported dataset by
    its name, and choosing it shows its runs only; the table names the dataset, not its id."""
    from dashboard.compare import choice
    from shared.config import parse_config

    dataset_id = imported(store, "Leaves")
    twin = imported(store, "Leaves")  # a name two datasets share gets the id's start
    failed = DatasetCatalogue.of(store).create("Never ready", "zip")
    DatasetCatalogue.of(store).fail(failed, "broken")
    small = [
        {"type": "conv2d", "filters": 4, "kernel_size": 3},
        {"type": "flatten"},
        {"type": "dense", "units": 2, "activation": "softmax"},
    ]
    store.create_run(*parse_config({"name": "on leaves", "dataset": dataset_id, "layers": small}))
    store.create_run(*parse_config({"name": "on digits", "epochs": 1}))

    def select_options(layout, cid):
        found = td.find(layout, cid)
        assert found is not None, cid
        return {o["value"]: o["label"] for o in found.options}

    with in_lang("en"):
        runs_layout = page("runs").layout()
        compare_layout = page("compare").layout()
    for options in (
        select_options(runs_layout, "runs-filter-dataset"),
        select_options(compare_layout, "cmp-f-dataset"),
    ):
        assert options[dataset_id] == f"Leaves ({dataset_id[:8]})"
        assert options[twin] == f"Leaves ({twin[:8]})"
        assert "mnist-sample" in options and "shapes-rgb" in options
        assert failed not in options

    table, _sig, count = page("runs").runs_view(store, dataset=dataset_id)
    shown = texts(table)
    assert "on leaves" in shown and "on digits" not in shown and count == "1 run"
    assert "Leaves" in shown and dataset_id not in shown
    assert "on digits" in texts(page("runs").runs_view(store, dataset="mnist-sample")[0])
    assert page("runs").runs_view(store, dataset=twin)[0] is not None  # the empty state
    assert "on leaves" not in texts(page("runs").runs_view(store, dataset=twin)[0])

    rows = choice.picker_data(store, "", dataset_id, choice.ALL_VALUE)
    assert [(r["name"], r["dataset"]) for r in rows] == [("on leaves", "Leaves")]
    every = choice.picker_data(store, "", choice.ALL_VALUE, choice.ALL_VALUE)
    assert sorted(r["dataset"] for r in every) == ["Leaves", "mnist-sample"]


def test_pages_name_an_imported_dataset_and_say_how_a_picture_is_made_its_shape(store):
    """A run on an imported dataset: the run page and the compare page name the dataset (not its
    id), and the compare page's input card says a picture is cropped and resized to the
    dataset's 14×10 grayscale, not made MNIST-like (which only 28×28 grayscale gets)."""
    from shared.config import parse_config

    dataset_id = imported(store, "Leaves")
    small = [
        {"type": "conv2d", "filters": 4, "kernel_size": 3},
        {"type": "flatten"},
        {"type": "dense", "units": 2, "activation": "softmax"},
    ]
    run = store.create_run(
        *parse_config({"name": "on leaves", "dataset": dataset_id, "layers": small})
    )
    digits = store.create_run(*parse_config({"name": "on digits"}))
    with in_lang("en"):
        run_page = texts(page("run").layout(run_id=run["id"]))
        compare = page("compare").layout(runs=run["id"])
        mnist = page("compare").layout(runs=digits["id"])
    with in_lang("es"):
        spanish = page("compare").layout(runs=run["id"])
    assert "Leaves · " in run_page and dataset_id not in run_page
    card = td.find(compare, "cmp-input-card")
    shown = texts(card) + " " + str(card)
    assert "resized to 14×10 grayscale" in shown and "MNIST" not in shown
    caption = texts(td.find(compare, "cmp-input-caption"))
    assert caption.startswith("test image #0 of Leaves · true class ") and dataset_id not in caption
    assert "digit scaled to 20 pixels" in str(td.find(mnist, "cmp-input-card"))
    assert "14×10 en gris" in str(td.find(spanish, "cmp-input-card"))
