"""Plain-text tables and JSON-safe values for command output."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson


def to_jsonable(value: Any) -> Any:
    """Exact JSON for query results: decimals as strings (no float drift), times as ISO text."""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | datetime | date):
        return to_jsonable(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def jsonable_dumps(value: Any, option: int = 0) -> bytes:
    """``orjson.dumps(to_jsonable(value), option=option)``, the same bytes, without copying
    ``value`` first: orjson asks :func:`to_jsonable` only for decimals and times (a report
    of 68k responses: 7 s to copy). Anything else it does not write itself (a key that is
    not a string) goes the long way."""
    try:
        return orjson.dumps(value, default=_json_default, option=option | orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return orjson.dumps(to_jsonable(value), option=option)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    rendered = to_jsonable(value)
    return str(rendered)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A fixed-width table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"
