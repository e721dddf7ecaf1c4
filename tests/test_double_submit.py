"""Double clicks on the dashboard's buttons that create runs: each action queues one run.

Every page that creates runs (run page: variants and Retry; New run, which clones too; Sweep)
holds a token per page view, and its submit sends an Idempotency-Key made from that token and the
action. The callbacks are called the way Dash calls them, twice, as a double click would.
"""

from __future__ import annotations

from dashboard.run import action_callbacks, manage
from dashboard.sweep import params
from dashboard.ui import layer_editor
from shared.store import FAILED
from tests import test_dashboard as td
from tests.test_dashboard import find, page, with_context, write_succeeded_run

# The dashboard tests' fixtures: an app built once per module, and a fresh store per test.
dash_app = td.dash_app
store = td.store

TANH = '{"kind":"tanh","type":"run-variant"}.n_clicks'


def children_of(store, parent: str) -> list[dict]:
    return [r for r in store.list_runs() if r["parent_id"] == parent]


def click_variant(parent: str, n_clicks: int, token: str | None) -> tuple:
    return with_context(
        [{"prop_id": TANH, "value": n_clicks}],
        action_callbacks.try_variant,
        [0, 0, 0, 0, n_clicks, 0],
        parent,
        token,
    )


def test_run_page_holds_a_token_per_view(store):
    parent = write_succeeded_run(store)
    tokens = {find(page("run").layout(run_id=parent), "run-submit-token").data for _ in range(2)}
    assert len(tokens) == 2 and all(len(t) == 32 for t in tokens)


def test_variant_callback_twice_with_the_same_clicks_creates_one_run(store):
    parent = write_succeeded_run(store)
    token = find(page("run").layout(run_id=parent), "run-submit-token").data
    first = click_variant(parent, 1, token)
    again = click_variant(parent, 1, token)
    assert first[0].startswith("/run/") and again[0] == first[0] and again[2] is None
    # A real double click counts 1 then 2: still the same variant from the same view.
    assert click_variant(parent, 2, token)[0] == first[0]
    (child,) = children_of(store, parent)
    assert first[0] == f"/run/{child['id']}" and child["name"].endswith("tanh")
    # Another page view (back on the run page later) may ask for the variant again.
    assert click_variant(parent, 1, "f" * 32)[0] != first[0]
    assert len(children_of(store, parent)) == 2


def test_variant_without_a_token_still_works(store):
    parent = write_succeeded_run(store)
    assert click_variant(parent, 1, None)[0] != click_variant(parent, 1, None)[0]


def test_start_training_twice_queues_one_run(store):
    new_page = page("new_run")
    token = find(new_page.layout(), "new-submit-token").data
    config = layer_editor.default_config()
    first = new_page.submit_config(store, config, None, token)
    assert new_page.submit_config(store, config, None, token)[0] == first[0]
    assert len(store.list_runs()) == 1
    # A config changed after the first submit is a new run, not a refused key.
    changed = new_page.submit_config(store, config | {"epochs": 1}, None, token)
    assert changed[2] is None and changed[0] != first[0]
    assert len(store.list_runs()) == 2


def test_clone_submitted_twice_queues_one_child(store):
    parent = write_succeeded_run(store)
    new_page = page("new_run")
    layout = new_page.layout(clone=parent)
    config = find(layout, "new-config").data
    token = find(layout, "new-submit-token").data
    paths = {new_page.submit_config(store, config, parent, token)[0] for _ in range(2)}
    assert len(paths) == 1 and len(children_of(store, parent)) == 1


def test_sweep_submitted_twice_queues_each_run_once(store):
    parent = write_succeeded_run(store)
    sweep_page = page("sweep")
    token = find(sweep_page.layout(**{"from": parent}), "sweep-submit-token").data
    base = {"config": params.normalized(layer_editor.default_config()), "id": parent}
    for _ in range(2):
        result, disabled = sweep_page.submit(1, "seed", None, "1, 2, 3", base, token)
        assert disabled and "3 runs queued" in td.texts(result)
    assert len(children_of(store, parent)) == 3


def test_retry_clicked_twice_starts_one_run(store):
    run_id = write_succeeded_run(store)
    store.update_fields(run_id, status=FAILED)
    token = find(page("run").layout(run_id=run_id), "run-submit-token").data
    first, _ = manage.retry(store, run_id, token)
    second, _ = manage.retry(store, run_id, token)
    assert first == second and first.startswith("/run/")
    assert len(children_of(store, run_id)) == 1
    # Renamed between the clicks: the first retry stands, and the page says why.
    store.update_fields(run_id, name="renamed")
    href, flash = manage.retry(store, run_id, token)
    assert href is __import__("dash").no_update and "already used" in flash["message"]
    assert len(children_of(store, run_id)) == 1
