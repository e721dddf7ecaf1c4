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
