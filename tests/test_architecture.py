"""The architecture as checks: import-linter's contracts bite, and Dash still keeps callbacks the
way dashboard/ui/page_callbacks.py relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dash
import pytest

from dashboard.ui import page_callbacks

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(LINT.parent), "PYTHONPATH": str(tree)},
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the three packages and the contracts, to break on purpose."""
    if not LINT.exists():
        pytest.skip("import-linter is not installed (make install)")
    out = tmp_path_factory.mktemp("tree")
    for package in ("shared", "dashboard", "worker"):
        shutil.copytree(ROOT / package, out / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", out / "pyproject.toml")
    return out


def _with_line(tree: Path, module: str, line: str):
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{line}\n")
    return path, original


def test_the_contracts_hold_on_the_real_tree(tree):
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "dashboard/ui/figures.py",
            "import worker.tasks  # noqa",
            "dashboard never imports worker",
        ),
        ("dashboard/service/run_data.py", "import tensorflow  # noqa", "dashboard never imports"),
        ("shared/store.py", "import dashboard.state  # noqa", "shared imports neither"),
        ("worker/tasks.py", "import dashboard.ui.i18n  # noqa", "worker never imports dashboard"),
        ("dashboard/ui/components.py", "import dashboard.run.views  # noqa", "dashboard layers"),
        ("dashboard/compare/picker.py", "import dashboard.run.manage  # noqa", "dashboard layers"),
        ("dashboard/api/jobs.py", "import dashboard.pages.runs  # noqa", "dashboard layers"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tree, module, line, contract):
    path, original = _with_line(tree, module, line)
    try:
        result = _lint(tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.rstrip().endswith("BROKEN")]
    assert any(contract in ln for ln in broken), result.stdout


def test_dash_keeps_pending_callbacks_where_page_callbacks_clears_them():
    """Fails loudly when Dash moves or reshapes its module-level callback list."""
    from dash import _callback

    assert isinstance(_callback.GLOBAL_CALLBACK_LIST, list)
    assert isinstance(_callback.GLOBAL_CALLBACK_MAP, dict)
    before = len(_callback.GLOBAL_CALLBACK_LIST)

    @dash.callback(dash.Output("arch-probe-out", "children"), dash.Input("arch-probe-in", "value"))
    def _probe(value):  # pragma: no cover - never called
        return value

    assert len(_callback.GLOBAL_CALLBACK_LIST) == before + 1
    assert any("arch-probe-out" in key for key in _callback.GLOBAL_CALLBACK_MAP)
    page_callbacks.forget_unclaimed_page_callbacks()
    assert _callback.GLOBAL_CALLBACK_LIST == [] and _callback.GLOBAL_CALLBACK_MAP == {}


def test_two_apps_in_one_process_each_serve_every_callback_once(tmp_path):
    from dashboard.app import create_app
    from shared.settings import Settings
    from shared.store import RunStore

    store = RunStore(Settings(_env_file=None, CNNLENS_DATA_DIR=tmp_path))
    counts = []
    for _ in range(2):
        app = create_app(store)
        client = app.server.test_client()
        assert client.get("/").status_code == 200
        deps = client.get("/_dash-dependencies").get_json()
        outputs = [d["output"] for d in deps]
        assert len(outputs) == len(set(outputs)), "a callback was registered twice"
        counts.append(len(outputs))
    assert counts[0] == counts[1] > 10
