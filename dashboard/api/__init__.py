"""The JSON API under /api: one module per resource, the route table, the errors."""
