"""The report kinds (``spendstream report KIND``), without the SQL: what the command line
needs before it reads anything (sinks/reports.py imports DuckDB's and pyarrow's side,
which `report --from` loads while its workers parse)."""

from __future__ import annotations

from typing import Literal

from sinks.summed_rows import Grain

ReportKind = Literal["daily", "monthly", "session", "model", "tree", "label", "messages"]
REPORT_KINDS: tuple[str, ...] = ("daily", "monthly", "session", "model", "tree", "label", "messages")
# Kinds that group by a label: they take the label's key as a parameter.
LABEL_KINDS: frozenset[str] = frozenset({"label"})
# Kinds that take a session (``$1``, None for all).
SESSION_KINDS: frozenset[str] = frozenset({"messages"})


def grains_for(kind: str) -> tuple[Grain, ...]:
    """The grains of summed rows (sinks/summed_rows.py) a report of ``kind`` can read, the
    coarsest first: ``messages`` tells responses apart, every other kind only scopes."""
    return ("response",) if kind in SESSION_KINDS else ("scope", "response")
