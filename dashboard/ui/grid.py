"""Tables as dash-ag-grid grids, styled alike: sortable columns, numbers right-aligned and formatted.

Formats are d3-format strings (ag-grid's value formatters run d3 in the browser); a missing value
shows as an empty cell.
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag

PERCENT = ".1%"
DECIMAL = ".3f"
INTEGER = "d"


def column(field: str, header: str, number: str | None = None, **extra: Any) -> dict[str, Any]:
    """One column: `number` is a d3 format for numeric columns (None: text)."""
    col: dict[str, Any] = {"field": field, "headerName": header, **extra}
    if number is not None:
        col["type"] = "rightAligned"
        col["valueFormatter"] = {
            "function": f"params.value == null ? '' : d3.format('{number}')(params.value)"
        }
    return col


def grid(grid_id: str, columns: list[dict[str, Any]], rows: list[dict[str, Any]], **extra: Any):
    """A grid with the page's look; `extra` goes to `dag.AgGrid` (selection, row styles…)."""
    options = {
        "animateRows": False,
        "suppressCellFocus": True,
        "rowHeight": 34,
        "headerHeight": 38,
        **extra.pop("dashGridOptions", {}),
    }
    return dag.AgGrid(
        id=grid_id,
        columnDefs=columns,
        rowData=rows,
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 70},
        columnSize="responsiveSizeToFit",
        dashGridOptions=options,
        className="ag-theme-quartz lens-grid",
        **extra,
    )
