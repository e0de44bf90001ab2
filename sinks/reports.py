"""Reports over the lake: daily, monthly, per session, per model, per agent tree, per label,
and per API response (``messages``).

SQL does the grouping (exact: integer token sums, ``DECIMAL(38, 12)`` cost sums); ratios
are computed here from those exact sums with ``Decimal`` and rounded for display only:

- ``cache_hit_ratio`` = cache_read / (input + cache_read), as seed 003 defines it: the
  share of the uncached-or-read input served from cache (cache writes are not in it);
  ``None`` when both are 0;
- ``cache_write_overhead`` = cache-write cost / cost: the share of the spend that paid for
  writing cache (above the input price; what a cold run pays); ``None`` when the cost is
  0, or when some of it has no split (``unsplit_cost_usd``, rows written before the split).

Every row carries the cost split (schemas/attribution.py): ``input_cost_usd``,
``output_cost_usd``, ``cache_read_cost_usd``, ``cache_write_cost_usd`` (=
``cache_write_5m_cost_usd`` + ``cache_write_1h_cost_usd``), which with ``unsplit_cost_usd``
sum exactly to ``cost_usd``. Rows from ``tree`` are subtree totals (a root includes its
descendants), so the tree report's grand total sums roots only.

``messages`` is one row per API response: the events of one ``(session_id, message_id,
request_id)`` merged (a response's deltas). Usage whose source names no response (Codex,
Gemini, claude-json results, a stream-json result's excess over its messages) is one row
per session with null ids. ``session`` keeps the responses of that scope and of its
subagents (the scope in their lineage).

Never silently zero: every row names how its cost was obtained (``cost_sources``:
reported, computed, unpriced), and a report counts its unpriced events per model
(:class:`schemas.unpriced.UnpricedTally`): the text footer and ``unpriced_models``.

A report reads a :class:`sinks.catalog.Catalog`: the lake (``LakeCatalog``) or local files'
events in memory (``sinks.memory_lake.MemoryLake``); both have the same views, so one SQL
per kind gives both the same rows. Its event aggregates are spelled per catalog
(``sinks.catalog.aggregates``: ``@EVENTS`` is ``count(*)`` over the lake's rows, a sum over
rows that sum events, as ``report --from``'s do). ``label KEY`` groups by the value of a free label
(``publish --label KEY=V``; events without it form one group, ``label`` null), and ``where``
(label key -> value) keeps only the events labelled so, in every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from schemas.money import ZERO_USD
from schemas.unpriced import UnpricedTally
from schemas.usage import TOKEN_FIELDS
from sinks.catalog import COST_SOURCES, COST_SPLIT_COLUMNS, COST_SPLIT_SUMS, Catalog, LakeCatalog, aggregates
from sinks.report_kinds import LABEL_KINDS, REPORT_KINDS, SESSION_KINDS, grains_for

RATIO_PLACES = Decimal("0.0001")

_SUMS = ", ".join(
    [
        "@EVENTS AS events",
        *[f"sum({n}) AS {n}" for n in TOKEN_FIELDS],
        "sum(cost_usd) AS cost_usd",
        COST_SPLIT_SUMS,
    ]
)
_TOTAL_COLUMNS = ", ".join(["events", *TOKEN_FIELDS, "cost_usd", *COST_SPLIT_COLUMNS])

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
    "messages": (
        ("session_id", "message_id", "request_id", "root_id", "models", "first_event", "cost_sources"),
        "SELECT session_id, message_id, max(request_id) AS request_id, any_value(root_id) AS root_id, "  # noqa: S608
        "coalesce(list_sort(list(DISTINCT model) FILTER (WHERE model IS NOT NULL)), []) AS models, "
        f"min(event_time) AS first_event, {COST_SOURCES}, {_SUMS} FROM usage "
        "WHERE CAST($1 AS VARCHAR) IS NULL OR session_id = $1 OR list_contains(lineage, $1) "
        # One row per response: its transcript lines carry a requestId, its stream-json ones none.
        "GROUP BY session_id, message_id "
        "ORDER BY first_event, session_id, message_id NULLS LAST",
    ),
}
_UNPRICED_SQL = "SELECT model, @EVENTS FROM usage WHERE cost_source = 'unpriced' GROUP BY model"


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
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
    input_cost_usd: Decimal = ZERO_USD
    output_cost_usd: Decimal = ZERO_USD
    cache_read_cost_usd: Decimal = ZERO_USD
    cache_write_5m_cost_usd: Decimal = ZERO_USD
    cache_write_1h_cost_usd: Decimal = ZERO_USD
    # The cost of events written before the split existed (the parts do not cover it).
    unsplit_cost_usd: Decimal = ZERO_USD

    @property
    def cache_write_cost_usd(self) -> Decimal:
        return self.cache_write_5m_cost_usd + self.cache_write_1h_cost_usd

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
        return ratio(self.cache_read_tokens, self.input_tokens + self.cache_read_tokens)

    @property
    def cache_write_overhead(self) -> Decimal | None:
        if self.unsplit_cost_usd:
            return None
        return ratio(self.cache_write_cost_usd, self.cost_usd)

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, name) + getattr(other, name) for name in _TOTALS_FIELDS))

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _TOTALS_FIELDS}
        data.update(
            cache_write_tokens=self.cache_write_tokens,
            cache_write_cost_usd=self.cache_write_cost_usd,
            total_tokens=self.total_tokens,
            cache_hit_ratio=self.cache_hit_ratio,
            cache_write_overhead=self.cache_write_overhead,
        )
        return data

    @classmethod
    def from_values(cls, values: tuple[Any, ...]) -> Totals:
        """From SQL values in the order ``events, <TOKEN_FIELDS>, cost_usd, <COST_SPLIT_COLUMNS>``."""
        counted = ("events", *TOKEN_FIELDS)
        amounts = ("cost_usd", *COST_SPLIT_COLUMNS)
        named: dict[str, Any] = {
            name: int(value or 0) for name, value in zip(counted, values[: len(counted)], strict=True)
        }
        for name, value in zip(amounts, values[len(counted) :], strict=True):
            named[name] = value if value is not None else ZERO_USD
        return cls(**named)


# Totals' fields in order (``dataclasses.fields`` per call was a third of a report's totals).
_TOTALS_FIELDS = tuple(f.name for f in fields(Totals))


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
    session: str | None = None,
) -> Report:
    """One report over dates ``since..until`` (inclusive, ``YYYY-MM-DD``) of events labelled
    as ``where`` says; ``label_key`` is the label a ``label`` report groups by; ``session``
    selects a scope and its subagents (``messages`` only).

    ``source`` is the lake's folder, or a catalog that already selects those dates and labels
    (a ``MemoryLake`` built with them); the report only records them.
    """
    if kind not in _SQL:
        raise ValueError(f"unknown report {kind!r}; one of {', '.join(REPORT_KINDS)}")
    if (kind in LABEL_KINDS) != (label_key is not None):
        raise ValueError(f"report {kind!r} {'needs' if kind in LABEL_KINDS else 'takes no'} label key")
    if session is not None and kind not in SESSION_KINDS:
        raise ValueError(f"report {kind!r} takes no session")
    selected = dict(where or {})
    catalog = LakeCatalog(source, since, until, selected) if isinstance(source, Path) else source
    key_columns, sql = _SQL[kind]
    params = [label_key] if label_key is not None else [session] if kind in SESSION_KINDS else None
    if catalog.grain is not None and catalog.grain not in grains_for(kind):
        raise ValueError(f"report {kind!r} needs its events summed per {' or '.join(grains_for(kind))}")
    summed = catalog.grain is not None
    _, rows = catalog.query(aggregates(sql, summed), params)
    width = len(key_columns)
    report_rows = [
        ReportRow(dict(zip(key_columns, row[:width], strict=True)), Totals.from_values(tuple(row[width:])))
        for row in rows
    ]
    _, unpriced_rows = catalog.query(aggregates(_UNPRICED_SQL, summed))
    unpriced = UnpricedTally()
    unpriced.merge({model: int(count) for model, count in unpriced_rows})
    return Report(kind, since, until, key_columns, report_rows, unpriced, label_key, selected)
