"""JSON Schemas (OpenAPI 3.1 components) of the API's request and response bodies.

The run config's schema comes from the pydantic model itself, so the document cannot drift from
what the validator accepts; everything else mirrors what the views in `api_*.py` return.
"""

from __future__ import annotations

from typing import Any

from dashboard.api.common import NAME_PATTERN
from shared.config import LAYER_TYPES, RunConfig
from shared.store import STATUSES

REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def nullable(schema_type: str) -> dict[str, Any]:
    return {"type": [schema_type, "null"]}


def obj(
    properties: dict[str, Any], required: list[str] | None = None, description: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if description:
        out["description"] = description
    return out


def array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


CLOSED = {"additionalProperties": False}
INTS = array({"type": "integer"})
NUMBERS = array(nullable("number"))


def run_config_schemas() -> dict[str, Any]:
    """RunConfig and its layer models, with `$defs` moved to components."""
    schema = RunConfig.model_json_schema(ref_template=REF)
    schema["properties"]["name"]["pattern"] = NAME_PATTERN  # enforced by the API view
    defs = schema.pop("$defs", {})
    for layer in defs.values():
        # The discriminator needs the tag: a layer without "type" is rejected.
        if "type" in layer.get("properties", {}):
            layer["required"] = sorted({"type", *layer.get("required", [])})
    schema["description"] = (
        "A run config. Every field has a default (the teaching notebook's "
        "model on mnist-sample), so {} is valid. Beyond these field rules, "
        "the whole model is checked: every feature map at least 1×1, at "
        "least one conv2d layer, a last layer of dense softmax with one unit "
        "per class, and a parameter budget."
    )
    return {"RunConfig": schema, **defs}


def components() -> dict[str, Any]:
    from dashboard.api.openapi_compare import compare_components

    field_error = obj({"field": {"type": "string"}, "message": {"type": "string"}})
    history = obj({key: NUMBERS for key in ("loss", "accuracy", "val_loss", "val_accuracy")})
    run_properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "name": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "dataset": {"type": "string"},
        "config": ref("RunConfig"),
        "architecture": {"type": "string"},
        "params": {"type": "integer"},
        "created_at": {"type": "number", "description": "Unix time, seconds"},
        "started_at": nullable("number"),
        "finished_at": nullable("number"),
        "progress": obj(
            {
                "epoch": nullable("integer"),
                "epochs": {"type": "integer"},
                "step": nullable("integer"),
                "steps": {"type": "integer"},
                "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                "loss": nullable("number"),
                "accuracy": nullable("number"),
            }
        ),
        "val_accuracy": nullable("number"),
        "test": obj({"loss": nullable("number"), "accuracy": nullable("number")}),
        "error": nullable("string"),
        "cancel_requested": {"type": "boolean"},
        "attempts": {"type": "integer"},
        "heartbeat_at": nullable("number"),
        "tags": array({"type": "string"}),
        "notes": {"type": "string"},
        "parent_id": nullable("string"),
    }
    converted = {
        "input_png": {
            "type": "string",
            "description": "For a picture: the 28×28 input the model got, as a PNG data URL.",
        }
    }
    detail_properties = run_properties | {
        "history": ref("History"),
        "layers": array(ref("LayerInfo")),
        "artifacts": array(ref("Artifact")),
    }
    return {
        "Error": obj({"error": {"type": "string", "description": "what was wrong, in a sentence"}}),
        "NotAllowed": obj({"error": {"type": "string"}, "allowed": array({"type": "string"})}),
        "ValidationErrors": obj({"errors": array(field_error, minItems=1)}),
        "Health": obj(
            {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "broker": {"type": "boolean"},
                "store": {"type": "boolean"},
                "version": {"type": "string"},
            }
        ),
        **run_config_schemas(),
        "History": history,
        "LayerInfo": obj(
            {
                "index": {"type": "integer"},
                "name": {"type": "string"},
                "type": {"type": "string", "enum": list(LAYER_TYPES)},
                "output_shape": INTS,
                "params": {"type": "integer"},
                "kernel_shape": {"anyOf": [INTS, {"type": "null"}]},
            }
        ),
        "Artifact": obj(
            {"name": {"type": "string"}, "url": {"type": "string"}, "size": nullable("integer")}
        ),
        "Run": obj(run_properties),
        "RunDetail": obj(detail_properties),
        "RunCreated": obj(
            detail_properties
            | {
                "warning": {"type": "string"},
                "replayed": {
                    "type": "boolean",
                    "description": "true when an Idempotency-Key named a run an earlier request "
                    "created: this is that run, and nothing new was made",
                },
            },
            required=list(detail_properties),
        ),
        "RunList": obj({"runs": array(ref("Run"))}),
        "CancelAnswer": obj(
            {
                "id": {"type": "string"},
                "status": {"type": "string", "enum": list(STATUSES)},
                "cancel_requested": {"type": "boolean"},
            }
        ),
        "FilterList": obj(
            {
                "run_id": {"type": "string"},
                "layers": array(
                    obj(
                        {
                            "name": {"type": "string"},
                            "kernel_shape": INTS,
                            "available": {"type": "boolean"},
                            "epochs_available": {"type": "boolean"},
                        }
                    )
                ),
            }
        ),
        "NestedNumbers": array({"anyOf": [nullable("number"), ref("NestedNumbers")]}),
        "FilterValues": obj(
            {
                "run_id": {"type": "string"},
                "layer": {"type": "string"},
                "epoch": nullable("integer"),
                "shape": INTS,
                "values": ref("NestedNumbers"),
            }
        ),
        "ProbeActivations": obj(
            {
                "run_id": {"type": "string"},
                "index": {"type": "integer"},
                "count": {"type": "integer"},
                "label": {"type": "integer"},
                "class_name": {"type": "string"},
                "test_index": nullable("integer"),
                "input": {"anyOf": [array(INTS), {"type": "null"}]},
                "probabilities": {"anyOf": [NUMBERS, {"type": "null"}]},
                "predicted": nullable("integer"),
                "layers": array(
                    obj(
                        {
                            "name": {"type": "string"},
                            "type": {"type": "string"},
                            "shape": INTS,
                            "values": ref("NestedNumbers"),
                        }
                    )
                ),
            }
        ),
        "ActivationRequest": {
            "oneOf": [
                obj({"test_index": {"type": "integer", "minimum": 0, "maximum": 9999}}) | CLOSED,
                obj(
                    {
                        "image": array(
                            array(
                                {"type": "integer", "minimum": 0, "maximum": 255},
                                minItems=28,
                                maxItems=28,
                            ),
                            minItems=28,
                            maxItems=28,
                        )
                    }
                )
                | CLOSED,
                obj(
                    {
                        "image_data_url": {
                            "type": "string",
                            "pattern": "^data:image/[a-z.+-]+;base64,",
                            "description": "A PNG/JPEG/GIF/BMP/WebP picture of any size, as a "
                            "data URL (what a browser canvas gives); converted MNIST-style.",
                        }
                    }
                )
                | CLOSED,
            ],
            "description": "A test-set image by index, a 28×28 grayscale image (0–255), or a "
            "picture as a data URL.",
        },
        "ActivationUpload": obj(
            {
                "image": {
                    "type": "string",
                    "format": "binary",
                    "description": "A PNG/JPEG/GIF/BMP/WebP picture of any size up to 2 MB.",
                }
            },
            description="A picture file, converted to a 28×28 white-on-black input like MNIST's.",
        ),
        "ExtractionResult": obj(
            {
                "run_id": {"type": "string"},
                "input_hash": {"type": "string"},
                "predicted": {"type": "integer"},
                "probabilities": NUMBERS,
                "layers": array(obj({"name": {"type": "string"}, "shape": INTS})),
                "download": {"type": "string"},
            }
        ),
        "ActivationsCached": obj(
            {"status": {"const": "cached"}, "result": ref("ExtractionResult"), **converted},
            required=["status", "result"],
        ),
        "ActivationsQueued": obj(
            {
                "status": {"const": "queued"},
                "job_id": {"type": "string"},
                "job_url": {"type": "string"},
                **converted,
            },
            required=["status", "job_id", "job_url"],
        ),
        "Job": obj(
            {
                "id": {"type": "string"},
                "kind": {"type": "string"},
                "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed"]},
                "run_id": nullable("string"),
                "result": {},
                "error": nullable("string"),
                "created_at": {"type": "number"},
                "finished_at": nullable("number"),
            }
        ),
        **compare_components(),
    }
