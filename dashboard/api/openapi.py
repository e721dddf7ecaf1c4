"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json, generated.

Paths come from the route table (`routes.ROUTES`), what each operation takes and answers from
`operations.OPERATIONS`, and every schema from the pydantic models of `models.py`,
`models_compare.py` and `params.py` (pydantic's own JSON Schema, with `$ref`s into
`components/schemas`). schemathesis exercises the document (tests/api/test_api_openapi.py):
every status a view can answer with is listed, errors included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

from dashboard.api.operations import COMPONENTS, INTERNAL, OPERATIONS, Operation, Reply, replies
from dashboard.api.params import Params

REF = "#/components/schemas/{model}"
Route = tuple[str, str, Callable[..., Any], Sequence[str]]  # (rule, endpoint, view, methods)


class _Schema(GenerateJsonSchema):
    """Pydantic's JSON Schema, less noise: no title per property, and a `None` default that only
    stands for "absent" (`models.Absent`) is not shown as a default the schema forbids."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        json_schema = super().default_schema(schema)
        if json_schema.get("default", ...) is None and not _allows_null(json_schema):
            del json_schema["default"]
        return json_schema


def _allows_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    return (
        kinds == "null"
        or (isinstance(kinds, list) and "null" in kinds)
        or any(_allows_null(s) for s in schema.get("anyOf", []))
    )


Refs = dict[Any, dict[str, str]]  # model -> {"$ref": ...}


def _schemas(models: Iterable[type[BaseModel]]) -> tuple[Refs, dict[str, Any]]:
    """`{model: {"$ref": ...}}` and the components they point to."""
    mode: JsonSchemaMode = "validation"
    keys, top = models_json_schema(
        [(m, mode) for m in models],
        ref_template=REF,
        schema_generator=_Schema,
        union_format="primitive_type_array",
    )
    components = top.get("$defs", {})
    _require_tags(components)
    return {model: ref for (model, _), ref in keys.items()}, components


def _require_tags(components: dict[str, Any]) -> None:
    """A discriminated union needs the tag: each member requires the discriminator property
    (the layers of a run config have a default `type`, but a layer without one is refused)."""
    for schema in _walk(components):
        tag = schema.get("discriminator", {})
        for target in tag.get("mapping", {}).values():
            member = components[target.rsplit("/", 1)[-1]]
            member["required"] = sorted({tag["propertyName"], *member.get("required", [])})


def _walk(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _models(operation: Operation) -> list[type[BaseModel]]:
    replies = [*operation.replies.values(), INTERNAL]
    return [*operation.body.values(), *(r.model for r in replies if r.model is not None)]


def _parameters(params: type[Params]) -> list[dict[str, Any]]:
    schema = params.model_json_schema(
        ref_template=REF, schema_generator=_Schema, union_format="primitive_type_array"
    )
    if "$defs" in schema:
        raise ValueError(f"{params.__name__}: parameters must be plain values")
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        out.append(
            {
                "name": name,
                "in": params.place,
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return out


def _reply(reply: Reply, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        out["content"] = {media: {"schema": refs[reply.model]} for media in reply.media}
    elif reply.media:
        out["content"] = {media: {"schema": {}} for media in reply.media}
    if reply.headers:
        out["headers"] = dict(reply.headers)
    if reply.links:
        out["links"] = dict(reply.links)
    return out


def _operation(operation: Operation, method: str, refs: Refs) -> dict[str, Any]:
    answers = replies(operation, method)
    out: dict[str, Any] = {
        "operationId": operation.op_id,
        "summary": operation.summary,
        "responses": {str(status): _reply(r, refs) for status, r in answers.items()},
    }
    if operation.description:
        out["description"] = operation.description
    parameters = [p for params in operation.params for p in _parameters(params)]
    if parameters:
        out["parameters"] = parameters
    if operation.body:
        body: dict[str, Any] = {
            "required": operation.body_required,
            "content": {media: {"schema": refs[m]} for media, m in operation.body.items()},
        }
        if operation.body_description:
            body["description"] = operation.body_description
        out["requestBody"] = body
    return out


def openapi_path(prefix: str, rule: str) -> str:
    """A Flask rule as an OpenAPI path: `/runs/<run_id>` -> `/api/runs/{run_id}`."""
    return prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def build_openapi(routes: Iterable[Route], prefix: str, version: str) -> dict[str, Any]:
    """The document of the API whose routes are `routes`, served under `prefix`."""
    routes = list(routes)
    endpoints = {endpoint for _, endpoint, _, _ in routes}
    if endpoints != set(OPERATIONS):
        raise ValueError(
            "routes and OPERATIONS differ: "
            f"{sorted(endpoints - set(OPERATIONS))} {sorted(set(OPERATIONS) - endpoints)}"
        )
    models = dict.fromkeys([*(m for op in OPERATIONS.values() for m in _models(op)), *COMPONENTS])
    refs, components = _schemas(models)
    paths: dict[str, dict[str, Any]] = {}
    for rule, endpoint, _view, methods in routes:
        for method in methods:
            paths.setdefault(openapi_path(prefix, rule), {})[method.lower()] = _operation(
                OPERATIONS[endpoint], method, refs
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CNN Lens API",
            "version": version,
            "description": "Train small CNNs through a task queue and look inside them. Every "
            'answer is JSON; errors are {"error": sentence}, invalid input '
            '{"errors": [{"field", "message"}]}. Unknown ids are 404. A '
            "wrong method is a 405 with an Allow header.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
