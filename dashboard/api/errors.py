"""What the API answers when it cannot do what was asked: a status code and a sentence.

An `ApiError` raised anywhere in a view becomes `{"error": ...}` (or `{"errors": [{"field",
"message"}]}` for invalid input) with its status code; `dashboard/api/routes.py` installs the
handlers that turn it, and Flask's own HTTP errors, into JSON.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than success: a status code and a sentence (or per-field errors)."""

    def __init__(
        self,
        status: int,
        message: str = "",
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(message or "; ".join(e["message"] for e in errors or []))
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers  # sent with the answer, e.g. Retry-After with a 429
        self.extra = extra

    def body(self) -> dict[str, Any]:
        if self.errors is not None:
            return {"errors": self.errors, **self.extra}
        return {"error": self.message, **self.extra}


def invalid(field: str, message: str) -> ApiError:
    """A 422 for one field."""
    return ApiError(422, errors=[{"field": field, "message": message}])
