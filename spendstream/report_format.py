"""Short and machine formats of a report: ``--format line`` and ``--format csv``.

``line`` is one line per group after a total line, for a chat message or a status bar::

    Total · 57.3k in / 15.2k out · $0.30
    Developer · 45.2k in / 12.1k out · $0.21
    Reviewer · 12.1k in / 3.1k out · $0.09

- ``in`` is every prompt token (input + cache reads + cache writes: what the model read, as
  Codex counts its input); ``out`` is output tokens (reasoning included);
- counts below 1,000 as they are, then one decimal with k, M, B, T, rounded half up; a
  count that rounds to 1000 of a unit moves to the next (999,950 is ``1.0M``, not ``1000.0k``);
- dollars rounded half up to the cent, with thousands separators (the exact cost is in
  ``--format json``);
- the group's name: a label's value with its first letter capitalised (``developer`` ->
  ``Developer``), ``(no KEY)`` for events without the label; a model, date, month, session
  or scope (indented by depth in ``tree``) as it is;
- the total line sums the same rows as the table's TOTAL (roots only in ``tree``); an
  unpriced footer follows when some events had no price.

``csv`` has one row per group (no total row, so a spreadsheet's sums stay right), columns
named as in ``--format json``, exact decimals, lists joined by commas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from spendstream.table import to_jsonable

if TYPE_CHECKING:  # sinks.reports imports pyarrow: `report --from` loads it while it parses
    from sinks.reports import Report, ReportRow, Totals

_UNITS = ("k", "M", "B", "T")
_CENT = Decimal("0.01")


def compact_tokens(count: int) -> str:
    """``900``, ``3.0k``, ``45.2k``, ``2.5M``: one decimal, rounded half up."""
    if count < 1000:
        return str(count)
    scale = 1
    for unit in _UNITS:
        scale *= 1000
        tenths = (count * 10 + scale // 2) // scale
        if tenths < 10_000 or unit == _UNITS[-1]:
            return f"{tenths // 10}.{tenths % 10}{unit}"
    raise AssertionError("unreachable")


def dollars(amount: Decimal) -> str:
    """``$0.21``, ``$1,234.57``: rounded half up to the cent."""
    return "$" + format(amount.quantize(_CENT, rounding=ROUND_HALF_UP), ",.2f")


def summary_line(name: str, totals: Totals) -> str:
    return (
        f"{name} · {compact_tokens(totals.prompt_tokens)} in / "
        f"{compact_tokens(totals.output_tokens)} out · {dollars(totals.cost_usd)}"
    )


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _label_name(report: Report, row: ReportRow) -> str:
    value = row.keys["label"]
    return f"(no {report.label_key})" if value is None else _capitalised(str(value))


def _tree_name(report: Report, row: ReportRow) -> str:
    return "  " * int(row.keys.get("depth") or 0) + str(row.keys["scope_id"])


def _key_name(column: str, missing: str = "") -> Callable[[Report, ReportRow], str]:
    def name(report: Report, row: ReportRow) -> str:
        value = row.keys[column]
        return missing if value is None else str(to_jsonable(value))

    return name


# The kinds ``line`` fits: each row has one name.
LINE_NAMES: dict[str, Callable[[Report, ReportRow], str]] = {
    "label": _label_name,
    "model": _key_name("model", "(no model)"),
    "daily": _key_name("date"),
    "monthly": _key_name("month"),
    "session": _key_name("session_id"),
    "tree": _tree_name,
}


def render_lines(report: Report) -> str:
    """The total line, then one line per row."""
    name = LINE_NAMES[report.kind]
    lines = [summary_line("Total", report.totals)]
    lines.extend(summary_line(name(report, row), row.totals) for row in report.rows)
    footer = report.unpriced.footer()
    if footer:
        lines.append(footer)
    return "\n".join(lines) + "\n"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(to_jsonable(v)) for v in value)
    return to_jsonable(value)


def render_csv(report: Report) -> str:
    """A header of JSON field names, then one row per group."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    from sinks.reports import Totals

    columns = [*report.key_columns, *Totals().as_dict()]
    writer.writerow(columns)
    for row in report.rows:
        values = row.as_dict()
        writer.writerow([_csv_cell(values[column]) for column in columns])
    return out.getvalue()
