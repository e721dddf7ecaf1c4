"""What each route of `routes.ROUTES` takes and answers, for the OpenAPI document: one table.

`OPERATIONS` is keyed by the route's endpoint name; `openapi.build_openapi` walks the route table
and looks every route up here (a route without an entry, or an entry without a route, is an
error). Bodies are the models of `models.py` and `models_compare.py`, parameters those of
`params.py`. `replies(operation, method)` adds what every request can get: the guard's refusals
(dashboard/api/guard.py) and a 500.
"""

from dashboard.api.operations import compare, datasets, run_views, runs
from dashboard.api.operations.base import COMPONENTS, INTERNAL, Operation, Reply, replies

OPERATIONS: dict[str, Operation] = {
    **runs.OPERATIONS,
    **run_views.OPERATIONS,
    **datasets.OPERATIONS,
    **compare.OPERATIONS,
}

__all__ = ["COMPONENTS", "INTERNAL", "OPERATIONS", "Operation", "Reply", "replies"]
