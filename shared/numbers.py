"""Whole numbers from untrusted input, checked without int() surprises.

JSON has one number type, so an index may arrive as 7 or 7.0; a text box or an address gives "7".
`int()` of "²" (a digit to str.isdigit) or of a 5,000-digit string raises, so text is accepted
only as at most 12 plain ASCII digits, and only where the caller says text is expected.
"""

from __future__ import annotations

import math
import re
from typing import Any

DIGITS_RE = re.compile(r"[0-9]{1,12}")


def whole_number(value: Any, text: bool = False) -> int | None:
    """`value` as an int when it is one (an int, an integral float, or with `text` plain ASCII
    digits), else None. Booleans are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if text and isinstance(value, str) and DIGITS_RE.fullmatch(value.strip()):
        return int(value.strip())
    return None
