"""A pydantic validation error said in words: its location as a field path (`layers.0.filters`)
and a sentence a user can act on ("must be at least 1"), for the config's per-field errors."""

from __future__ import annotations

from typing import Any

from shared.layer_specs import LAYER_TYPES


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a field path, without the union tag pydantic puts after a
    layer's index (layers.0.conv2d.filters → layers.0.filters). Only there: "activation" is both
    a layer type and a parameter (layers.0.activation)."""
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "layers" and parts[2] in LAYER_TYPES:
        del parts[2]
    return ".".join(str(p) for p in parts) or "config"


def friendly(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "is not a known setting"
    if kind == "union_tag_invalid":
        return f"unknown layer type; use one of: {', '.join(LAYER_TYPES)}"
    if kind == "union_tag_not_found":
        return f"each layer needs a 'type': one of {', '.join(LAYER_TYPES)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        bound = next(iter(ctx.values()), "")
        return f"must be {words} {bound}"
    if kind == "list_type":
        return "must be a list (a JSON array)"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be an object (a JSON object with named settings)"
    if kind == "string_type":
        return "must be text (a JSON string)"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} entries"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} entries"
    if kind.startswith("int_") or kind.startswith("float_"):
        return "must be a number" + (" (a whole number)" if kind.startswith("int_") else "")
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg", "is not valid")))
    return str(err.get("msg", "is not valid"))
