"""/api/openapi.json: valid JSON describing every route, and (with schemathesis) honoured by the API.

The schemathesis test generates requests from the document, valid and invalid, sends them to the
Flask app in-process (WSGI), and checks: no 5xx, every status and body as documented, invalid
input rejected, wrong methods answered 405 with an Allow header.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from dashboard.api.models import History
from dashboard.api.routes import ROUTES, openapi_document
from shared.store import HISTORY_KEYS

try:
    import schemathesis
    from hypothesis import HealthCheck, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance
except ImportError:  # the dev extras are not installed
    schemathesis = None


def openapi_path(rule: str) -> str:
    return "/api" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_openapi_is_json_with_every_route(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = json.loads(response.data)
    assert doc == openapi_document()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    routes = {
        (openapi_path(rule), method.lower()) for rule, _, _, methods in ROUTES for method in methods
    }
    assert documented == routes
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["operationId"] and "500" in op["responses"], path
            for param in re.findall(r"{(\w+)}", path):
                assert param in {p["name"] for p in op["parameters"]}, (path, param)


def test_openapi_refs_resolve_and_embed_the_run_config(client):
    doc = client.get("/api/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
    assert refs <= set(schemas), refs - set(schemas)
    config = schemas["RunConfig"]
    assert config["properties"]["epochs"]["maximum"] == 200
    assert config["additionalProperties"] is False
    assert schemas["Conv2D"]["required"] == ["type"]


def test_the_history_model_has_the_stores_keys():
    assert tuple(History.model_fields) == HISTORY_KEYS


def test_openapi_validates_as_openapi_3_1(client):
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    doc = client.get("/api/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(doc)
    assert {op.ok().label for op in schema.get_all_operations()} >= {
        "GET /api/health",
        "POST /api/runs",
        "GET /api/runs/{run_id}/artifacts/{name}",
    }


if schemathesis is not None:
    # Loaded from the builder (the served document is the same, see the first test), because a
    # fixture-based lazy schema trips over pytest 9's node ids; the app comes in as a fixture.
    fuzzed = schemathesis.openapi.from_dict(openapi_document())

    @fuzzed.parametrize()
    @settings(
        max_examples=int(os.environ.get("CNNLENS_FUZZ_EXAMPLES", "25")),
        deadline=None,
        database=None,  # no .hypothesis/ folder in the checkout
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
        ],
    )
    def test_api_honours_its_openapi_document(case, app):
        # A schema-valid config can still be refused by the whole-model checks (a kernel that does
        # not fit, a dataset not on this machine): a 422 for valid JSON is expected there.
        case.call_and_validate(app=app, excluded_checks=[positive_data_acceptance])
