"""Reading uploaded datasets (shared/dataset_import.py) and the import job (worker/dataset_jobs.py).

Every archive is made in the test: small .npz files and zips of class folders, good and hostile.
Each hostile one gets a DatasetRejected sentence; through the job, it leaves no files behind.
"""

from __future__ import annotations

import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from shared.dataset_import import DatasetRejected, Limits, quick_check, read_upload
from shared.datasets import describe, load_raw
from shared.settings import Settings, get_settings
from shared.store import RunStore
from shared.store_datasets import DatasetCatalogue, DatasetInUse

LIMITS = Limits(max_bytes=20 * 1024 * 1024, max_images=2_000)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def good_arrays(n_train=60, n_test=20, shape=(12, 10), classes=3, rng=None):
    rng = rng or np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def picture(size=(16, 16), colour=(200, 30, 30), fmt="PNG", mode="RGB") -> bytes:
    img = Image.new(mode, size, colour if mode != "L" else colour[0])
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


def zipped(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            if name.endswith("/"):
                archive.writestr(zipfile.ZipInfo(name), b"")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def folders(split=True, classes=("cat", "dog"), per_class=4, size=(16, 16)) -> dict[str, bytes]:
    entries = {}
    colours = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]
    for c, name in enumerate(classes):
        for i in range(per_class):
            data = picture(size, colours[c % 3])
            if split:
                entries[f"train/{name}/{i}.png"] = data
                entries[f"test/{name}/{i}.png"] = data
            else:
                entries[f"{name}/{i}.png"] = data
    return entries


def read(data: bytes, **kw):
    return read_upload(io.BytesIO(data), LIMITS, **kw)


def refused(data: bytes, **kw) -> str:
    with pytest.raises(DatasetRejected) as err:
        read(data, **kw)
    return str(err.value)


# --- good forms --------------------------------------------------------------------------------


def test_npz_grayscale_non_square():
    data = read(npz(**good_arrays()))
    assert data.shape == (12, 10, 1) and data.x_train.shape == (60, 12, 10)
    assert data.classes == ("0", "1", "2")
    assert quick_check(io.BytesIO(npz(**good_arrays())), LIMITS) == "npz"


def test_npz_float_rgb_with_class_names_and_a_channel_axis():
    arrays = good_arrays(shape=(9, 9, 3))
    arrays["x_train"] = arrays["x_train"] / 255.0
    arrays["class_names"] = np.array(["red", "green", "blue"])
    data = read(npz(**arrays))
    assert data.shape == (9, 9, 3) and data.x_train.dtype == np.uint8
    assert data.classes == ("red", "green", "blue")
    one = good_arrays(shape=(8, 8, 1))
    assert read(npz(**one)).x_train.shape == (60, 8, 8)


def test_zip_train_and_test_folders_rgb():
    data = read(zipped(folders()))
    assert data.classes == ("cat", "dog") and data.shape == (16, 16, 3)
    assert len(data.y_train) == 8 and len(data.y_test) == 8
    assert data.x_train[0, 0, 0].tolist() == [200, 30, 30]


def test_zip_single_set_split_by_fraction_inside_one_folder():
    entries = {f"mydata/{k}": v for k, v in folders(split=False, per_class=10).items()}
    data = read(zipped(entries), test_fraction=0.3)
    assert len(data.y_test) == 6 and len(data.y_train) == 14
    assert any("split" in note for note in data.notes)


def test_zip_grayscale_and_mixed_sizes_resized_by_the_stated_rule():
    entries = folders(classes=("a", "b", "c"), per_class=3)
    entries = {k: picture((16, 16), (90, 90, 90), mode="L") for k in entries}
    entries["train/a/big.jpg"] = picture((40, 20), (90, 90, 90), fmt="JPEG", mode="L")
    data = read(zipped(entries))
    assert data.shape == (16, 16, 1) and data.x_train.ndim == 3
    assert any("resized to 16×16" in note for note in data.notes)


def test_junk_files_are_skipped():
    entries = folders() | {"__MACOSX/._x": b"junk", "train/cat/.DS_Store": b"junk"}
    assert read(zipped(entries)).classes == ("cat", "dog")


# --- hostile or broken archives ----------------------------------------------------------------


def test_not_an_archive_and_truncated_uploads():
    assert "not a readable" in refused(b"GIF89a not a zip at all")
    whole = npz(**good_arrays())
    assert "truncated" in refused(whole[: len(whole) // 2])
    folder_zip = zipped(folders())
    assert "truncated" in refused(folder_zip[:-30])


def test_npz_with_a_pickled_object_array_is_never_loaded():
    arrays = good_arrays()
    arrays["x_train"] = np.array([{"evil": 1}] * 60, dtype=object)
    assert "never loaded" in refused(npz(**arrays))


def test_npz_bad_contents():
    arrays = good_arrays()
    missing = {k: v for k, v in arrays.items() if k != "y_test"}
    assert "lacks y_test" in refused(npz(**missing))
    assert "outside [0, 1]" in refused(npz(**(arrays | {"x_train": arrays["x_train"] * 2.0})))
    nan = arrays["x_test"].astype(np.float32)
    nan[0, 0, 0] = np.nan
    assert "NaN" in refused(npz(**(arrays | {"x_test": nan})))
    assert "out of range" in refused(npz(**(arrays | {"y_train": arrays["y_train"] - 1})))
    gap = arrays["y_train"].copy()
    gap[gap == 1] = 2
    assert "no training images" in refused(npz(**(arrays | {"y_train": gap})))
    assert "lacks" in refused(npz(**(arrays | {"y_test": arrays["y_test"] + 3})))
    assert "each side" in refused(npz(**good_arrays(shape=(4, 12))))
    assert "each side" in refused(npz(**good_arrays(shape=(130, 12))))
    assert "labels for" in refused(npz(**(arrays | {"y_train": arrays["y_train"][:10]})))
    one = good_arrays(classes=1)
    assert "1 class" in refused(npz(**one))
    assert "holds text" in refused(npz(**(arrays | {"y_test": np.array(["a"] * 20)})))
    assert "besides" in refused(npz(**(arrays | {"extra": np.zeros(3)})))


def test_npz_over_the_limits():
    big = good_arrays(n_train=1990, n_test=20)
    assert "at most 2,000" in refused(npz(**big))
    small = Limits(max_bytes=4096, max_images=2_000)
    with pytest.raises(DatasetRejected, match="at most"):
        read_upload(io.BytesIO(npz(**good_arrays())), small)


def test_npz_whose_header_lies_about_its_size():
    good = npz(**good_arrays())
    with zipfile.ZipFile(io.BytesIO(good)) as src:
        members = {name: src.read(name) for name in src.namelist()}
    # Cut the data of x_train short but keep its header: the bytes do not match the shape.
    members["x_train.npy"] = members["x_train.npy"][:-50]
    assert "header says" in refused(zipped(members, zipfile.ZIP_STORED))


def test_zip_bomb_is_refused_from_its_headers():
    bomb = zipped({"train/a/0.png": b"\0" * (50 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    assert "zip bomb" in refused(bomb)


def test_paths_that_climb_out_or_are_absolute_and_symlinks():
    for name in ("../evil/0.png", "train/../../x.png", "/etc/passwd.png", "C:/x/0.png"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(zipfile.ZipInfo(name), picture())
        message = refused(buffer.getvalue())
        assert "absolute" in message or ".." in message, name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("train/a/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert "symbolic link" in refused(buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("train\\a\\0.png"), picture())
    assert "backslash" in refused(buffer.getvalue())


def test_zip_layout_problems():
    entries = folders()
    assert "not a picture" in refused(zipped(entries | {"train/cat/notes.txt": b"hello"}))
    assert "not a PNG or JPEG" in refused(zipped(entries | {"train/cat/fake.png": b"MZ\x90\0"}))
    assert "empty" in refused(zipped(entries | {"train/bird/": b""}))
    assert "training set lacks" in refused(zipped(entries | {"test/bird/0.png": picture()}))
    no_test = {k: v for k, v in entries.items() if k.startswith("train/")}
    assert "no test/" in refused(zipped(no_test))
    assert "class folder" in refused(zipped(entries | {"train/loose.png": picture()}))
    assert "nests folders" in refused(zipped(entries | {"train/cat/deeper/": b""}))
    assert "1 class folder" in refused(zipped(folders(classes=("only",))))
    assert "outside train/" in refused(zipped(entries | {"other/a/0.png": picture()}))
    few = folders(split=False, per_class=1)
    assert "too few" in refused(zipped(few))
    for cut in (40, 60):  # the header alone, or a picture cut inside its data
        message = refused(zipped(entries | {"train/cat/broken.png": picture()[:cut]}))
        assert "damaged" in message or "not a PNG or JPEG" in message


def test_zip_too_many_pictures_or_too_big_decoded():
    tiny = Limits(max_bytes=20 * 1024 * 1024, max_images=10)
    with pytest.raises(DatasetRejected, match="at most 10"):
        read_upload(io.BytesIO(zipped(folders(per_class=3))), tiny)
    small = Limits(max_bytes=16 * 16 * 3 * 10, max_images=1_000)
    with pytest.raises(DatasetRejected, match="decoded"):
        read_upload(io.BytesIO(zipped(folders(per_class=3))), small)


# --- the job, end to end in this process (no Celery): files, catalogue, nothing left behind ----


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLENS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    load_raw.cache_clear()
    settings = Settings(
        _env_file=None,
        CNNLENS_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'test.sqlite3'}",
    )
    store = RunStore(settings).init()
    yield store
    store.engine.dispose()
    get_settings.cache_clear()
    load_raw.cache_clear()


def start_import(store, data: bytes, name="pets", source="zip") -> tuple[str, str]:
    catalogue = DatasetCatalogue.of(store)
    dataset_id = catalogue.create(name, source)
    catalogue.save_upload(dataset_id, io.BytesIO(data), LIMITS.max_bytes)
    job_id = store.create_job("import_dataset", None, {"dataset_id": dataset_id})
    catalogue.set_job(dataset_id, job_id)
    return dataset_id, job_id


def test_import_job_makes_a_ready_dataset_runs_can_use(store):
    from shared.config import parse_config
    from worker.dataset_jobs import import_job

    dataset_id, job_id = start_import(store, zipped(folders(classes=("cat", "dog", "fox"))))
    assert import_job(store, job_id) == "succeeded"
    row = DatasetCatalogue.of(store).get(dataset_id)
    assert row["status"] == "ready" and row["shape"] == [16, 16, 3]
    assert row["classes"] == ["cat", "dog", "fox"] and row["counts"]["train"] == 12
    folder = store.settings.data_dir / "datasets" / dataset_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "meta.json",
        "x_test.npy",
        "x_train.npy",
        "y_test.npy",
        "y_train.npy",
    ]
    info = describe(dataset_id)
    assert info is not None and info.shape == (16, 16, 3) and info.classes == ("cat", "dog", "fox")
    x_train, y_train, x_test, _ = load_raw(dataset_id)
    assert x_train.shape == (12, 16, 16, 3) and y_train.max() == 2
    config, infos = parse_config(
        {
            "dataset": dataset_id,
            "layers": [
                {"type": "conv2d", "filters": 4, "kernel_size": 3},
                {"type": "flatten"},
                {"type": "dense", "units": 3, "activation": "softmax"},
            ],
        }
    )
    assert infos[0].kernel_shape == (3, 3, 3, 4)
    run = store.create_run(config, infos)
    with pytest.raises(DatasetInUse):
        DatasetCatalogue.of(store).delete(dataset_id)
    assert DatasetCatalogue.of(store).runs_using(dataset_id) == 1 and run["dataset"] == dataset_id


def test_a_hostile_archive_leaves_nothing_behind(store):
    from worker.dataset_jobs import import_job

    dataset_id, job_id = start_import(store, zipped({"../../evil.png": picture()}))
    assert import_job(store, job_id) == "failed"
    row = DatasetCatalogue.of(store).get(dataset_id)
    assert row["status"] == "failed" and "'..'" in row["error"]
    assert store.get_job(job_id)["error"] == row["error"]
    assert not (store.settings.data_dir / "datasets" / dataset_id).exists()
    assert describe(dataset_id) is None
    assert DatasetCatalogue.of(store).delete(dataset_id)
    assert DatasetCatalogue.of(store).get(dataset_id) is None
