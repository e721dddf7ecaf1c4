"""What the run page's attribution card draws from a finished result: the map over the input
(beside the randomised model's when the sanity check ran) and the caption that explains it, with
the numbers behind it and the sanity check's verdict. dashboard/run/attribution.py lays the card
out and asks for results."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from dashboard.service import attributions, run_data
from dashboard.ui import attribution_figure, components, figures
from dashboard.ui.i18n import number, t
from shared.store import RunStore


def _class_name(classes: tuple[str, ...], k: int) -> str:
    return classes[k] if 0 <= k < len(classes) else str(k)


def _fmt(value: float) -> str:
    return number(f"{value:.3g}")


def describe(run: dict[str, Any], result: dict[str, Any]) -> list[Any]:
    """What the map shows: method, class, the numbers behind it, the sanity check's verdict."""
    classes = run_data.class_names(run)
    target = int(result["target"])
    probs = result.get("probabilities") or []
    share = probs[target] if target < len(probs) and probs[target] is not None else 0.0
    lines: list[Any] = [
        html.P(components.tr(f"attr.about.{result['method']}")),
        html.P(
            t(
                "attr.explains",
                name=_class_name(classes, target),
                share=figures.fmt_share(float(share)),
                how=t(f"attr.target_was.{result['target_was']}"),
            )
        ),
    ]
    if result.get("layer"):
        lines.append(html.P(t("attr.on_layer", layer=result["layer"])))
    if result["method"] == "gradcam" and result["max"] <= 0:
        lines.append(html.P(t("attr.gradcam_zero"), className="text-warning"))
    check = result.get("completeness")
    if check:
        lines.append(
            html.P(
                t(
                    "attr.completeness",
                    total=_fmt(check["total"]),
                    expected=_fmt(check["expected"]),
                    error=number(f"{100 * check['relative_error']:.2f}"),
                    steps=check["steps"],
                    baseline=t(f"attr.baseline.{result.get('baseline') or 'black'}"),
                )
            )
        )
    lines.append(
        html.P(t("attr.range", lo=_fmt(result["min"]), hi=_fmt(result["max"])), className="small")
    )
    sanity = result.get("sanity")
    if sanity:
        verdict = "attr.sanity.unreliable" if sanity["unreliable"] else "attr.sanity.passes"
        lines.append(
            dbc.Alert(
                [
                    html.Div(
                        t(
                            "attr.sanity.numbers",
                            rho=number(f"{sanity['spearman']:.2f}"),
                            ssim=number(f"{sanity['ssim']:.2f}"),
                        )
                    ),
                    html.Div(components.tr(verdict, threshold=number(f"{sanity['threshold']}"))),
                ],
                color="warning" if sanity["unreliable"] else "success",
                class_name="py-2 small",
            )
        )
    return lines


def figure(arrays: dict[str, np.ndarray], result: dict[str, Any]) -> Any:
    panels = [(arrays["input"], arrays["attribution"], t("attr.fig.trained"))]
    if "randomised" in arrays:
        panels.append((arrays["input"], arrays["randomised"], t("attr.fig.randomised")))
    return attribution_figure.overlays(panels)


def shown(
    store: RunStore, run: dict[str, Any], digest: str, params: dict[str, Any]
) -> tuple | None:
    """(figure, caption) of a result in the run folder; None when it is not there (evicted)."""
    arrays = attributions.cached_arrays(store, run["id"], digest, params)
    result = attributions.cached_result(store, run, digest, params)
    if arrays is None or result is None:
        return None
    return figure(arrays, result), describe(run, result)
