"""In a real browser: the dashboard speaks the browser's language and switches at any time."""

from __future__ import annotations

import re

import pytest

from tests.e2e import support as e2e
from tests.e2e.support import step

e2e.require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def spanish_page(browser, stack):
    """A tab in a browser whose language is Spanish (it sends Accept-Language: es-ES)."""
    with e2e.watched_tab(browser, stack.url, locale="es-ES") as tab:
        yield tab


def test_switch_the_language(spanish_page, finished_run):
    page = spanish_page
    with step(page, "a Spanish browser gets the runs page in Spanish"):
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.get_by_role("heading", name="Entrenamientos")).to_be_visible()
        expect(page.locator("#runs-filter-name")).to_have_attribute(
            "placeholder", "Filtrar por nombre"
        )
        expect(page.locator("#runs-table")).to_contain_text("Prec. test")
        expect(page.locator("#runs-table")).to_contain_text("terminado")  # the run's status
        expect(page.locator("#app-lang-es")).to_have_class(re.compile(r"\bactive\b"))
        e2e.screenshot(page, "runs-es")
    with step(page, "EN switches the same page to English"):
        page.locator("#app-lang-en").click()
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("#runs-table")).to_contain_text("Test acc.")
        page.wait_for_url(re.compile(r"/$"))  # back on the page it was clicked on
    with step(page, "it stays English on the next page"):
        page.get_by_role("link", name="New run", exact=True).first.click()
        page.wait_for_url(re.compile(r"/new$"))
        expect(page.get_by_role("heading", name="New run")).to_be_visible()
        expect(page.get_by_role("button", name="Start training")).to_be_visible()
        expect(page.locator(".lens-layer-params").first).to_contain_text("filters")
    with step(page, "ES switches the New run page, layer editor included, to Spanish"):
        page.locator("#app-lang-es").click()
        page.wait_for_url(re.compile(r"/new$"))
        expect(page.get_by_role("heading", name="Nuevo entrenamiento")).to_be_visible()
        expect(page.get_by_role("button", name="Empezar a entrenar")).to_be_visible()
        expect(page.get_by_text("Tasa de aprendizaje")).to_be_visible()
        first_layer = page.locator(".lens-layer").first
        expect(first_layer).to_contain_text("filtros")
        expect(first_layer).to_contain_text("activación")
        expect(page.locator("#new-preview")).to_contain_text("Forma de salida")
        expect(page.get_by_role("button", name="Modelo del cuaderno")).to_be_visible()
        e2e.screenshot(page, "new-es")
    with step(page, "a callback answers in Spanish too: add a layer"):
        page.locator("#new-add-type").select_option("dense")
        page.get_by_role("button", name="+ Añadir capa").click()
        expect(page.locator(".lens-layer")).to_have_count(6)
        expect(page.locator(".lens-layer").nth(4)).to_contain_text("unidades")
    with step(page, "the run page in Spanish"):
        page.goto(f"/run/{finished_run['id']}")
        expect(page.get_by_role("heading", name="Curvas de entrenamiento")).to_be_visible()
        expect(page.get_by_text("Precisión en test")).to_be_visible()
        expect(page.get_by_role("heading", name="Mapas de características")).to_be_visible()
        e2e.screenshot(page, "run-es")
