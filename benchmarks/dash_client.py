"""Calling the dashboard's Dash callbacks over HTTP the way the browser does, without a browser.

The request body of `POST /_dash-update-component` is built from the app's own callback table
(`GET /_dash-dependencies`), so the benchmarks follow the pages when their callbacks change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests


def _split(prop_id: str) -> dict[str, Any]:
    """'runs-table.children' or '{"index":1,"type":"x"}.n_clicks' → {"id", "property"}."""
    ident, prop = prop_id.rsplit(".", 1)
    prop = prop.split("@", 1)[0]  # allow_duplicate outputs carry an @hash
    return {"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop}


def outputs_of(output: str) -> list[dict[str, Any]] | dict[str, Any]:
    if output.startswith("..") and output.endswith(".."):
        return [_split(part) for part in output[2:-2].split("...")]
    return _split(output)


@dataclass
class Callback:
    """One server-side callback, found by an output it writes."""

    url: str
    dep: dict[str, Any]

    @classmethod
    def find(cls, session: requests.Session, base_url: str, output: str) -> Callback:
        deps = session.get(f"{base_url}/_dash-dependencies", timeout=10).json()
        for dep in deps:
            if output in dep["output"] and not dep.get("clientside_function"):
                return cls(f"{base_url}/_dash-update-component", dep)
        raise LookupError(f"no callback writes {output!r}")

    def body(self, values: dict[str, Any], changed: str | None = None) -> dict[str, Any]:
        """`values` maps 'id.property' to what the browser holds; missing ones are None."""

        def items(kind: str) -> list[dict[str, Any]]:
            return [
                {
                    "id": spec["id"],
                    "property": spec["property"],
                    "value": values.get(f"{spec['id']}.{spec['property']}"),
                }
                for spec in self.dep[kind]
            ]

        inputs = items("inputs")
        first = self.dep["inputs"][0]
        return {
            "output": self.dep["output"],
            "outputs": outputs_of(self.dep["output"]),
            "inputs": inputs,
            "state": items("state"),
            "changedPropIds": [changed or f"{first['id']}.{first['property']}"],
        }

    def call(
        self,
        session: requests.Session,
        values: dict[str, Any],
        changed: str | None = None,
        timeout: float = 30,
    ) -> requests.Response:
        res = session.post(self.url, json=self.body(values, changed), timeout=timeout)
        if res.status_code not in (200, 204):  # 204: every output was no_update
            raise RuntimeError(f"callback {self.dep['output']} answered {res.status_code}")
        return res


def response_value(res: requests.Response, component: str, prop: str) -> Any:
    """One output's new value from a callback response (None when it was not updated)."""
    if res.status_code == 204 or not res.content:
        return None
    return res.json().get("response", {}).get(component, {}).get(prop)
