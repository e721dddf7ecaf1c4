"""English and Spanish: the catalogues agree, every key the code uses exists, the language follows
the cookie and the browser, and a page rendered for a Spanish browser speaks Spanish."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import flask
import pytest

from dashboard.service import variants
from dashboard.ui import glossary, i18n, layer_editor, messages
from dashboard.ui.i18n import t
from tests import test_dashboard as td
from tests.test_dashboard import page

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "dashboard").rglob("*.py"))
LITERAL_KEY = re.compile(r"\bt\(\s*\"([^\"]+)\"")
PLURAL_KEY = re.compile(r"\btn\(\s*\"([^\"]+)\"")
LINK = re.compile(r"\[([^\]]+)\]\(([a-z-]+)\)")
FLASK = flask.Flask(__name__)

# The dashboard tests' fixtures: an app built once per module, and a fresh store per test.
dash_app = td.dash_app
store = td.store


def in_lang(lang: str | None = None, accept: str | None = None):
    """A request context as if from a browser with this cookie and Accept-Language."""
    headers = {}
    if lang:
        headers["Cookie"] = f"{i18n.COOKIE}={lang}"
    if accept:
        headers["Accept-Language"] = accept
    return FLASK.test_request_context(headers=headers)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def texts(component: Any) -> str:
    """All the text of a Dash component tree, attributes such as title included."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(texts(c) for c in component)
    out = [texts(getattr(component, "children", None))]
    for attr in ("title", "placeholder", "label"):
        value = getattr(component, attr, None)
        if isinstance(value, str):
            out.append(value)
    for attr in ("options",):
        for option in getattr(component, attr, None) or []:
            if isinstance(option, dict):
                out.append(str(option.get("label", "")))
    return " ".join(out)


# --- the catalogues -------------------------------------------------------------------------------
def test_both_catalogues_have_the_same_keys():
    en, es = i18n.catalogue("en"), i18n.catalogue("es")
    assert sorted(set(en) - set(es)) == [], "keys only in en.json"
    assert sorted(set(es) - set(en)) == [], "keys only in es.json"


def test_every_value_is_text_with_the_same_placeholders_and_glossary_links():
    en, es = i18n.catalogue("en"), i18n.catalogue("es")
    for key, english in en.items():
        spanish = es[key]
        assert isinstance(english, str) and english.strip(), key
        assert isinstance(spanish, str) and spanish.strip(), key
        if key.endswith(".one"):  # "1 run" may say its count in words: "un entrenamiento"
            assert placeholders(spanish) <= placeholders(english), key
        else:
            assert placeholders(english) == placeholders(spanish), key
        assert {m[1] for m in LINK.findall(english)} == {m[1] for m in LINK.findall(spanish)}, key
        for _label, term in LINK.findall(english):
            assert term in glossary.TERMS, (key, term)


def test_every_key_the_code_uses_exists():
    en = i18n.catalogue("en")
    used, plural = set(), set()
    for path in SOURCES:
        source = path.read_text()
        used |= set(LITERAL_KEY.findall(source))
        plural |= set(PLURAL_KEY.findall(source))
    assert len(used) > 100  # the regex still finds the calls
    missing = sorted(k for k in used if k not in en)
    missing += sorted(f"{k}.one/other" for k in plural if {f"{k}.one", f"{k}.other"} - set(en))
    assert missing == []


def test_keys_built_at_run_time_exist():
    """Keys made with f-strings: glossary entries, layer parameters, presets, variants, statuses."""
    en = i18n.catalogue("en")
    keys = [
        f"glossary.{term}.{part}" for term in glossary.TERMS for part in ("title", "short", "long")
    ]
    keys += [f"layer.param.{p[0]}" for params in layer_editor.LAYER_PARAMS.values() for p in params]
    keys += [
        f"preset.{name}.{part}" for name in layer_editor.PRESETS for part in ("title", "about")
    ]
    keys += [f"variant.{kind}.{part}" for kind in variants.KINDS for part in ("label", "about")]
    keys += [f"status.{s}" for s in ("queued", "running", "succeeded", "failed", "cancelled")]
    keys += [f"lang.{lang}" for lang in i18n.LANGS]
    keys += [key for key, _pattern in messages.PATTERNS]
    keys += list(messages.FIELD_KEYS.values())
    assert sorted(k for k in keys if k not in en) == []


def test_english_strings_in_the_code_are_the_catalogues_english():
    """The English catalogue keeps the words the pages showed before there was a Spanish one."""
    assert i18n.catalogue("en")["runs.title"] == "Runs"
    assert i18n.catalogue("es")["runs.title"] == "Entrenamientos"


# --- choosing the language ------------------------------------------------------------------------
def test_outside_a_request_the_language_is_english():
    assert i18n.current_lang() == "en"
    assert t("nav.new") == "New run"


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "en"),
        (None, "es-ES,es;q=0.9,en;q=0.8", "es"),
        (None, "es-MX", "es"),
        (None, "fr-FR,de;q=0.9", "en"),
        (None, "fr-FR,es;q=0.5", "es"),
        ("en", "es-ES", "en"),  # the switch wins over the browser
        ("es", "en-US", "es"),
        ("xx", "es", "es"),  # an unknown cookie value is ignored
    ],
)
def test_current_lang_honours_cookie_then_accept_language(cookie, accept, expected):
    with in_lang(cookie, accept):
        assert i18n.current_lang() == expected


def test_t_fills_placeholders_and_falls_back(caplog):
    with in_lang("es"):
        assert t("runs.count.other", count=3) == "3 entrenamientos"
        assert i18n.tn("runs.count", 1) == "1 entrenamiento"
        assert t("no.such.key") == "no.such.key"
    assert "no.such.key" in caplog.text


def test_numbers_follow_the_language():
    from dashboard.ui import components

    assert components.fmt_int(43530) == "43,530" and components.fmt_pct(0.975) == "97.5%"
    with in_lang("es"):
        assert components.fmt_int(43530) == "43.530" and components.fmt_pct(0.975) == "97,5 %"


def test_validation_messages_are_translated_by_pattern():
    english = "must be at most 200"
    assert messages.message(english) == english
    with in_lang("es"):
        assert messages.message(english) == "debe ser como mínimo 200".replace("mínimo", "máximo")
        assert messages.config_errors_text([{"field": "epochs", "message": english}]) == (
            "Épocas: debe ser como máximo 200"
        )
        assert messages.message("something new") == "something new"  # unknown: as it is


def test_the_language_switch_sets_the_cookie_and_goes_back():
    server = flask.Flask(__name__)
    i18n.register_switch(server)
    client = server.test_client()
    answer = client.get("/lang/es", headers={"Referer": "http://localhost/new?clone=abc"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/new?clone=abc"
    assert f"{i18n.COOKIE}=es" in answer.headers["Set-Cookie"]
    away = client.get("/lang/en", headers={"Referer": "http://evil.example/x"})
    assert away.headers["Location"] == "/"
    bad = client.get("/lang/xx")
    assert "Set-Cookie" not in bad.headers


# --- pages in Spanish -----------------------------------------------------------------------------
ENGLISH_ON_RUNS = ("Every training run", "Filter by name", "All statuses", "New run", "Runs")


def test_runs_page_in_spanish(store):
    with in_lang("es"):
        text = texts(page("runs").layout())
    assert "Entrenamientos" in text and "Filtrar por nombre" in text and "Todos los estados" in text
    for english in ENGLISH_ON_RUNS:
        assert not re.search(rf"\b{re.escape(english)}\b", text), english
    with in_lang(accept="en-GB"):
        assert "Every training run" in texts(page("runs").layout())


def test_new_run_page_and_layer_editor_in_spanish(store):
    with in_lang(accept="es-ES,es;q=0.9"):
        text = texts(page("new_run").layout())
    for spanish in ("Nuevo entrenamiento", "Tasa de aprendizaje", "filtros", "activación", "Capas"):
        assert spanish in text, spanish
    for english in ("Learning rate", "Start training", "Model preview", "Remove this layer"):
        assert english not in text, english


def test_glossary_in_spanish(store):
    with in_lang("es"):
        text = texts(page("glossary").layout())
        assert glossary.TERMS["pooling"].title == "Agrupamiento (pooling)"
    assert "Mapa de características" in text and "Glosario" in text
    assert "Feature map" not in text and "See also" not in text


COMPARE_SECTIONS = {  # Spanish section title → its English version
    "Entrenamientos": "Runs",
    "Una misma entrada en todos los modelos": "One input through every model",
    "Diferencias de configuración": "Config differences",
    "Curvas de entrenamiento": "Training curves",
    "Predicciones": "Predictions",
    "Mapas de características, capa a capa": "Feature maps, layer by layer",
    "Filtros lado a lado": "Filters side by side",
    "Estadísticas por filtro": "Per-filter statistics",
    "Similitud entre capas (CKA)": "Layer similarity (CKA)",
}


def test_compare_page_in_spanish(store):
    a = td.write_succeeded_run(store, {"name": "uno", "epochs": 2})
    b = td.write_succeeded_run(store, {"name": "dos", "epochs": 2}, seed=1)
    with in_lang("es"):
        out = page("compare").layout(runs=f"{a},{b}", input="test:3")
        text = texts(out)
        assert i18n.current_lang() == "es"
    for spanish, english in COMPARE_SECTIONS.items():
        assert spanish in text, spanish
        assert not re.search(rf"\b{re.escape(english)}\b", text), english
    for spanish in ("Comparar entrenamientos", "emparejados con A", "común a todos", "Mostrar"):
        assert spanish in text, spanish
    assert "filtros muertos" in text and "Tick two to four runs" not in text
    with in_lang("en"):
        assert "Layer similarity (CKA)" in texts(page("compare").layout(runs=f"{a},{b}"))


def test_the_app_serves_html_lang_and_a_spanish_navbar(dash_app, store):
    client = dash_app.server.test_client()
    html = client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert '<html lang="es">' in html
    client.set_cookie(i18n.COOKIE, "en")
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    layout = dash_app.server.test_client().get("/_dash-layout", headers={"Accept-Language": "es"})
    assert "Nuevo entrenamiento" in layout.get_data(as_text=True)
