"""Reports over the lake: daily, monthly, per session, per model, per agent tree, per label.

SQL does the grouping (exact: integer token sums, ``DECIMAL(38, 12)`` cost sums); ratios
are computed here from those exact integers with ``Decimal`` and rounded for display only:

- ``cache_hit_ratio`` = cache_read / (input + cache_read + cache writes): the share of
  prompt tokens served from cache;
- ``cache_write_overhead`` = cache writes / (input + cache_read + cache writes): the share
  of prompt tokens spent writing cache (billed above the input price; what a cold run pays).

Both are ``None`` when no prompt tokens were used. Rows from ``tree`` are subtree totals
(a root includes its descendants), so the tree report's grand total sums roots only.

Never silently zero: every row names how its cost was obtained (``cost_sources``:
reported, computed, unpriced), and a report counts its unpriced events per model
(:class:`schemas.unpriced.UnpricedTally`): the text footer and ``unpriced_models``.

A report reads a :class:`sinks.catalog.Catalog`: the lake (``LakeCatalog``) or local files'
events in memory (``sinks.memory_lake.MemoryLake``); both have the same views, so one SQL
per kind gives both the same rows. ``label KEY`` groups by the value of a free label
(``publish --label KEY=V``; events without it form one group, ``label`` null), and ``where``
(label key -> value) keeps only the events labelled so, in every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Literal

from schemas.money import ZERO_USD
from schemas.unpriced import UnpricedTally
from schemas.usage import TOKEN_FIELDS
from sinks.catalog import COST_SOURCES, Catalog, LakeCatalog

ReportKind = Literal["daily", "monthly", "session", "model", "tree", "label"]
REPORT_KINDS: tuple[str, ...] = ("daily", "monthly", "session", "model", "tree", "label")
# Kinds that group by a label: they take the label's key as a parameter.
LABEL_KINDS: frozenset[str] = frozenset({"label"})
RATIO_PLACES = Decimal("0.0001")

_SUMS = ", ".join(
    ["count(*) AS events", *[f"sum({n}) AS {n}" for n in TOKEN_FIELDS], "sum(cost_usd) AS cost_usd"]
)
_TOTAL_COLUMNS = ", ".join(["events", *TOKEN_FIELDS, "cost_usd"])

# Per kind: the key columns and the SQL giving (keys..., events, tokens..., cost_usd).
_SQL: dict[str, tuple[tuple[str, ...], str]] = {  # constant SQL: S608 does not apply
    "daily": (
        ("date", "cost_sources"),
        f"SELECT date, {COST_SOURCES}, {_SUMS} FROM usage GROUP BY date ORDER BY date",  # noqa: S608
    ),
    "monthly": (
        ("month", "cost_sources"),
        f"SELECT strftime(date, '%Y-%m') AS month, {COST_SOURCES}, {_SUMS} "  # noqa: S608
        "FROM usage GROUP BY month ORDER BY month",
    ),
    "session": (
        ("session_id", "root_id", "models", "first_event", "last_event", "cost_sources"),
        "SELECT session_id, root_id, models, first_event, last_event, cost_sources, "  # noqa: S608
        f"{_TOTAL_COLUMNS} FROM sessions ORDER BY first_event, session_id",
    ),
    "model": (
        ("model", "sessions", "cost_sources"),
        f"SELECT model, sessions, cost_sources, {_TOTAL_COLUMNS} "  # noqa: S608
        "FROM models ORDER BY cost_usd DESC, model NULLS LAST",
    ),
    "tree": (
        ("scope_id", "root_id", "parent_id", "depth", "sessions", "own_cost_usd", "cost_sources"),
        "SELECT scope_id, root_id, parent_id, depth, sessions, own_cost_usd, cost_sources, "  # noqa: S608
        f"{_TOTAL_COLUMNS} FROM tree ORDER BY root_id, path",
    ),
    "label": (
        ("label", "sessions", "cost_sources"),
        "SELECT labels[?] AS label, count(DISTINCT session_id) AS sessions, "  # noqa: S608
        f"{COST_SOURCES}, {_SUMS} FROM usage GROUP BY label "
        "ORDER BY sum(cost_usd) DESC, label NULLS LAST",
    ),
}
_UNPRICED_SQL = "SELECT model, count(*) FROM usage WHERE cost_source = 'unpriced' GROUP BY model"


def ratio(part: int, whole: int) -> Decimal | None:
    """``part / whole`` rounded half-even to 4 places; None when ``whole`` is 0."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATIO_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Totals:
    """Summed usage of a group of events (tokens exact, cost exact)."""

    events: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    web_search_requests: int = 0
    cost_usd: Decimal = ZERO_USD

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @property
    def cache_hit_ratio(self) -> Decimal | None:
        return ratio(self.cache_read_tokens, self.prompt_tokens)

    @property
    def cache_write_overhead(self) -> Decimal | None:
        return ratio(self.cache_write_tokens, self.prompt_tokens)

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(
            cache_write_tokens=self.cache_write_tokens,
            total_tokens=self.total_tokens,
            cache_hit_ratio=self.cache_hit_ratio,
            cache_write_overhead=self.cache_write_overhead,
        )
        return data

    @classmethod
    def from_values(cls, values: tuple[Any, ...]) -> Totals:
        """From SQL values in the order ``events, <TOKEN_FIELDS>, cost_usd``."""
        events, *counts, cost = values
        tokens = {name: int(value or 0) for name, value in zip(TOKEN_FIELDS, counts, strict=True)}
        return cls(events=int(events or 0), cost_usd=cost if cost is not None else ZERO_USD, **tokens)


@dataclass(frozen=True)
class ReportRow:
    keys: dict[str, Any]
    totals: Totals

    def as_dict(self) -> dict[str, Any]:
        return {**self.keys, **self.totals.as_dict()}


@dataclass(frozen=True)
class Report:
    kind: str
    since: str | None
    until: str | None
    key_columns: tuple[str, ...]
    rows: list[ReportRow] = field(default_factory=list)
    unpriced: UnpricedTally = field(default_factory=UnpricedTally)
    label_key: str | None = None
    where: Mapping[str, str] = field(default_factory=dict)

    @property
    def totals(self) -> Totals:
        rows = [r for r in self.rows if r.keys.get("depth", 0) == 0] if self.kind == "tree" else self.rows
        total = Totals()
        for row in rows:
            total = total + row.totals
        return total

    def as_dict(self) -> dict[str, Any]:
        selection: dict[str, Any] = {}
        if self.label_key is not None:
            selection["label_key"] = self.label_key
        if self.where:
            selection["where"] = dict(sorted(self.where.items()))
        return {
            "report": self.kind,
            "since": self.since,
            "until": self.until,
            **selection,
            "rows": [row.as_dict() for row in self.rows],
            "totals": self.totals.as_dict(),
            **self.unpriced.as_json(),
        }


def build_report(
    source: Path | Catalog,
    kind: str,
    *,
    since: str | None = None,
    until: str | None = None,
    label_key: str | None = None,
    where: Mapping[str, str] | None = None,
) -> Report:
    """One report over dates ``since..until`` (inclusive, ``YYYY-MM-DD``) of events labelled
    as ``where`` says; ``label_key`` is the label a ``label`` report groups by.

    ``source`` is the lake's folder, or a catalog that already selects those dates and labels
    (a ``MemoryLake`` built with them); the report only records them.
    """
    if kind not in _SQL:
        raise ValueError(f"unknown report {kind!r}; one of {', '.join(REPORT_KINDS)}")
    if (kind in LABEL_KINDS) != (label_key is not None):
        raise ValueError(f"report {kind!r} {'needs' if kind in LABEL_KINDS else 'takes no'} label key")
    selected = dict(where or {})
    catalog = LakeCatalog(source, since, until, selected) if isinstance(source, Path) else source
    key_columns, sql = _SQL[kind]
    _, rows = catalog.query(sql, [label_key] if label_key is not None else None)
    width = len(key_columns)
    report_rows = [
        ReportRow(dict(zip(key_columns, row[:width], strict=True)), Totals.from_values(tuple(row[width:])))
        for row in rows
    ]
    _, unpriced_rows = catalog.query(_UNPRICED_SQL)
    unpriced = UnpricedTally()
    unpriced.merge({model: int(count) for model, count in unpriced_rows})
    return Report(kind, since, until, key_columns, report_rows, unpriced, label_key, selected)
