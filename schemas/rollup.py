"""Subtree rollup arithmetic: per-scope own and subtree totals, and event-time windows.

Pure: state in, state out. A usage event adds to its own scope's ``own`` and ``subtree``
totals and to the ``subtree`` totals of every ancestor in its lineage, so a parent's
subtree always includes all descendants at any depth. Every change of a scope's record
increments its ``version`` so consumers of the compacted topics can drop stale updates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from schemas.money import ZERO_USD, to_usd, usd_str
from schemas.records import replaced
from schemas.usage import MAX_TOKENS, TOKEN_FIELDS, SchemaError, TokenCounts, UsageEvent

AGGREGATE_SCHEMA_VERSION = 1
# What a total can hold (schemas/README.md, "Ranges"): every token field at most MAX_TOKENS,
# like any usage record, and a cost of at most MAX_TOTAL_USD (DECIMAL(38, 12) in Parquet and
# exact at 12 places in Python's default decimal context, with room for sums in DuckDB).
MAX_TOTAL_TOKENS = MAX_TOKENS
MAX_TOTAL_USD = Decimal(10**12)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TotalOutOfRange(SchemaError):
    """Adding this event would take a total out of its range: terminal for the event."""


@dataclass(frozen=True, slots=True)
class Totals:
    """Summed tokens, exact cost and number of usage events.

    The cost is also kept apart by auth mode (schemas/README.md, "Auth mode"): the
    ``advisory`` part is usage under a subscription, whose cost is notional; the rest is
    ``billable``, and ``unknown_auth_cost_usd`` is the part of it with no evidence of its
    mode, counted billable so that missing evidence never lifts a budget.
    """

    tokens: TokenCounts = field(default_factory=TokenCounts)
    cost_usd: Decimal = ZERO_USD
    events: int = 0
    advisory_cost_usd: Decimal = ZERO_USD
    unknown_auth_cost_usd: Decimal = ZERO_USD

    @property
    def billable_cost_usd(self) -> Decimal:
        return self.cost_usd - self.advisory_cost_usd

    def plus(self, event: UsageEvent) -> Totals:
        """These totals with one more event; raises TotalOutOfRange past the ranges."""
        try:
            tokens = self.tokens + event.tokens
        except SchemaError as exc:
            raise TotalOutOfRange(f"a total would leave its range: {exc.reason}") from exc
        cost = self.cost_usd + event.cost_usd
        if cost > MAX_TOTAL_USD:
            raise TotalOutOfRange(f"a total cost would exceed {MAX_TOTAL_USD} USD")
        advisory, unknown = self.advisory_cost_usd, self.unknown_auth_cost_usd
        if event.auth_mode == "subscription":
            advisory += event.cost_usd
        elif event.auth_mode != "api_key":
            unknown += event.cost_usd
        return Totals(tokens, cost, self.events + 1, advisory, unknown)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            **self.tokens.as_dict(),
            "cost_usd": usd_str(self.cost_usd),
            "billable_cost_usd": usd_str(self.billable_cost_usd),
            "advisory_cost_usd": usd_str(self.advisory_cost_usd),
            "unknown_auth_cost_usd": usd_str(self.unknown_auth_cost_usd),
            "events": self.events,
        }

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> Totals:
        tokens = TokenCounts(**{name: raw.get(name, 0) for name in TOKEN_FIELDS})
        cost = to_usd(raw["cost_usd"])
        # Records from before the split: all of their cost was of unknown mode.
        unknown = to_usd(raw["unknown_auth_cost_usd"]) if "unknown_auth_cost_usd" in raw else cost
        advisory = to_usd(raw.get("advisory_cost_usd", "0"))
        return cls(tokens, cost, int(raw["events"]), advisory, unknown)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class ScopeTotals:
    """The ``totals`` topic record of one scope (session, subagent, or any tree node)."""

    scope: str
    root_id: str
    parent_id: str | None
    own: Totals = field(default_factory=Totals)
    subtree: Totals = field(default_factory=Totals)
    children: int = 0
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None
    version: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        own, subtree = _totals_json(self.own, self.subtree)
        return {
            "schema_version": AGGREGATE_SCHEMA_VERSION,
            "scope": self.scope,
            "root_id": self.root_id,
            "parent_id": self.parent_id,
            "own": own,
            "subtree": subtree,
            "children": self.children,
            "first_event_time": _time(self.first_event_time),
            "last_event_time": _time(self.last_event_time),
            "version": self.version,
        }

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> ScopeTotals:
        return cls(
            scope=raw["scope"],
            root_id=raw["root_id"],
            parent_id=raw.get("parent_id"),
            own=Totals.from_json_dict(raw["own"]),
            subtree=Totals.from_json_dict(raw["subtree"]),
            children=int(raw["children"]),
            first_event_time=_parse_time(raw.get("first_event_time")),
            last_event_time=_parse_time(raw.get("last_event_time")),
            version=int(raw["version"]),
        )


class EventSums:
    """``totals.plus(event)`` for one event, computed once per Totals object: an event adds
    the same Totals to several records (a new scope's totals and its new windows all start
    from :data:`NO_TOTALS`), which then share one object, encoded once (:class:`RecordJson`).
    ``plus`` is a pure function of the two and Totals are immutable, so a repeat is that result."""

    __slots__ = ("_done", "event")

    def __init__(self, event: UsageEvent) -> None:
        self.event = event
        self._done: dict[int, tuple[Totals, Totals]] = {}  # id -> (the object, kept alive; its sum)

    def plus(self, totals: Totals) -> Totals:
        hit = self._done.get(id(totals))
        if hit is not None:
            return hit[1]
        result = totals.plus(self.event)
        self._done[id(totals)] = (totals, result)
        return result


# The totals of a record that has none yet: one shared object (equal to ``Totals()``).
NO_TOTALS = Totals()


def _added(own: Totals, subtree: Totals, sums: EventSums, is_own: bool) -> tuple[Totals, Totals]:
    """``own`` and ``subtree`` with the event of ``sums`` added (``own`` only when it is the
    event's own scope). A scope with no descendant's usage has equal ``own`` and ``subtree``
    (every session at first): both get one new object, computed once and encoded once."""
    if not is_own:
        return own, sums.plus(subtree)
    if own is subtree or own == subtree:
        both = sums.plus(subtree)
        return both, both
    return sums.plus(own), sums.plus(subtree)


def _totals_json(own: Totals, subtree: Totals) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON objects of ``own`` and ``subtree``, encoded once when they are one object."""
    own_json = own.to_json_dict()
    return own_json, (dict(own_json) if subtree is own else subtree.to_json_dict())


def _widen(first: datetime | None, last: datetime | None, at: datetime) -> tuple[datetime, datetime]:
    return (at if first is None or at < first else first, at if last is None or at > last else last)


def roll_up(
    event: UsageEvent,
    current: Callable[[str], ScopeTotals | None],
    skip: Callable[[str], bool] = lambda _scope: False,
) -> list[ScopeTotals]:
    """New records of every scope the event adds to: its ancestors (root first), then its own.

    ``current(scope)`` returns the scope's record so far, or None when the scope is new.
    A scope seen for the first time counts as a child of the scope before it in the lineage.
    Scopes for which ``skip(scope)`` holds (they applied this event already) get no record.
    Raises :class:`TotalOutOfRange` when a new record would leave its range (schemas/README.md).
    """
    scopes = event.scopes
    skipped = [skip(scope) for scope in scopes]
    previous = [None if skipped[depth] else current(scope) for depth, scope in enumerate(scopes)]
    return scope_records(EventSums(event), scopes, previous, skipped)


def scope_records(
    sums: EventSums,
    scopes: tuple[str, ...],
    previous: Sequence[ScopeTotals | None],
    skipped: Sequence[bool],
) -> list[ScopeTotals]:
    """:func:`roll_up` given each scope's record so far (``previous``, aligned with
    ``scopes = event.scopes``) and whether it is skipped."""
    event = sums.event
    last = len(scopes) - 1
    updated: dict[str, ScopeTotals] = {}
    for depth, scope in enumerate(scopes):
        if skipped[depth]:
            continue
        parent = scopes[depth - 1] if depth else None
        record = previous[depth]
        if record is None:
            record = ScopeTotals(scope, event.root_id, parent, NO_TOTALS, NO_TOTALS)
            parent_record = updated.get(parent) if parent is not None else None
            if parent is not None and parent_record is not None:
                updated[parent] = replaced(parent_record, children=parent_record.children + 1)
        first, last_time = _widen(record.first_event_time, record.last_event_time, event.event_time)
        own, subtree = _added(record.own, record.subtree, sums, depth == last)
        # Built directly, not with dataclasses.replace (its field introspection is the
        # larger part of the cost here, once per scope per event).
        updated[scope] = ScopeTotals(
            record.scope,
            record.root_id,
            record.parent_id,
            own,
            subtree,
            record.children,
            first,
            last_time,
            record.version + 1,
        )
    return list(updated.values())


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """The ``windows`` topic record: one scope's totals in one event-time tumbling window."""

    scope: str
    root_id: str
    size_seconds: int
    start: datetime
    own: Totals = field(default_factory=Totals)
    subtree: Totals = field(default_factory=Totals)
    version: int = 0

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.size_seconds)

    @property
    def key(self) -> str:
        return window_key(self.scope, self.size_seconds, self.start)

    def to_json_dict(self) -> dict[str, Any]:
        own, subtree = _totals_json(self.own, self.subtree)
        return {
            "schema_version": AGGREGATE_SCHEMA_VERSION,
            "scope": self.scope,
            "root_id": self.root_id,
            "size_seconds": self.size_seconds,
            "window_start": _time(self.start),
            "window_end": _time(self.end),
            "own": own,
            "subtree": subtree,
            "version": self.version,
        }

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> WindowTotals:
        start = _parse_time(raw["window_start"])
        assert start is not None
        return cls(
            scope=raw["scope"],
            root_id=raw["root_id"],
            size_seconds=int(raw["size_seconds"]),
            start=start,
            own=Totals.from_json_dict(raw["own"]),
            subtree=Totals.from_json_dict(raw["subtree"]),
            version=int(raw["version"]),
        )


def window_start(at: datetime, size_seconds: int) -> datetime:
    """Start of the tumbling window of ``size_seconds`` that holds ``at`` (aligned to the epoch)."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    size_micros = size_seconds * 1_000_000
    return _EPOCH + timedelta(microseconds=micros - micros % size_micros)


def window_key(scope: str, size_seconds: int, start: datetime) -> str:
    return f"{scope}|{size_seconds}|{int((start - _EPOCH).total_seconds())}"


def window_suffix(size_seconds: int, start: datetime) -> str:
    """What follows the scope (a string) in :func:`window_key`."""
    return f"|{size_seconds}|{int((start - _EPOCH).total_seconds())}"


def window_accepts(
    start: datetime, size_seconds: int, watermark: datetime | None, grace_seconds: int
) -> bool:
    """Whether a window still takes events: its end plus grace is not behind the watermark.

    The watermark is the highest event time seen (per partition), so replayed history is
    judged by its own clock, not the wall clock.
    """
    if watermark is None:
        return True
    return start + timedelta(seconds=size_seconds + grace_seconds) > watermark


def event_windows(
    event: UsageEvent, sizes: tuple[int, ...], watermark: datetime | None, grace_seconds: int
) -> list[tuple[int, datetime, str]]:
    """Size, start and key suffix (:func:`window_suffix`) of each window of the event that
    still takes it, in the order of ``sizes``."""
    windows = []
    for size in sizes:
        start = window_start(event.event_time, size)
        if window_accepts(start, size, watermark, grace_seconds):
            windows.append((size, start, window_suffix(size, start)))
    return windows


def window_added(
    sums: EventSums, record: WindowTotals | None, scope: str, size: int, start: datetime
) -> WindowTotals:
    """The new record of ``scope``'s window at ``start`` (``record`` so far, None if new)."""
    event = sums.event
    if record is None:
        record = WindowTotals(scope, event.root_id, size, start, NO_TOTALS, NO_TOTALS)
    own, subtree = _added(record.own, record.subtree, sums, scope == event.session_id)
    return WindowTotals(
        record.scope, record.root_id, record.size_seconds, record.start, own, subtree, record.version + 1
    )


def roll_up_windows(
    event: UsageEvent,
    sizes: tuple[int, ...],
    watermark: datetime | None,
    grace_seconds: int,
    current: Callable[[str], WindowTotals | None],
    skip: Callable[[str], bool] = lambda _key: False,
) -> list[WindowTotals]:
    """Updated window records for every scope of the event and every window size.

    Events too late for their window (past end + grace by the watermark) update no window;
    they still count in ``totals`` and in Parquet. Keys for which ``skip(key)`` holds get
    no record.
    """
    sums = EventSums(event)
    updated: list[WindowTotals] = []
    for size, start, suffix in event_windows(event, sizes, watermark, grace_seconds):
        for scope in event.scopes:
            key = scope + suffix
            if not skip(key):
                updated.append(window_added(sums, current(key), scope, size, start))
    return updated


class RecordJson:
    """The JSON of ``totals`` and ``windows`` records, byte for byte
    ``orjson.dumps(record.to_json_dict())``, encoding each Totals object once (by identity:
    a scope's ``own`` that did not change, one sum shared by several records) and each
    time's text once (by value: equal aware times have one UTC text). At most
    ``max_entries`` of each are kept, then they start over."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._totals: dict[int, tuple[Totals, orjson.Fragment]] = {}
        self._times: dict[datetime, str] = {}
        self._windows: dict[tuple[datetime, int], tuple[str | None, str | None]] = {}

    def _totals_json(self, totals: Totals) -> orjson.Fragment:
        hit = self._totals.get(id(totals))
        if hit is not None:
            return hit[1]
        if len(self._totals) >= self.max_entries:
            self._totals.clear()
        fragment = orjson.Fragment(orjson.dumps(totals.to_json_dict()))
        self._totals[id(totals)] = (totals, fragment)  # the object kept: its id stays its own
        return fragment

    def _time(self, at: datetime | None) -> str | None:
        if at is None:
            return None
        text = self._times.get(at)
        if text is None:
            if len(self._times) >= self.max_entries:
                self._times.clear()
            text = self._times[at] = at.astimezone(UTC).isoformat(timespec="microseconds")  # _time's
        return text

    def scope_totals(self, record: ScopeTotals) -> bytes:
        return orjson.dumps(
            {
                "schema_version": AGGREGATE_SCHEMA_VERSION,
                "scope": record.scope,
                "root_id": record.root_id,
                "parent_id": record.parent_id,
                "own": self._totals_json(record.own),
                "subtree": self._totals_json(record.subtree),
                "children": record.children,
                "first_event_time": self._time(record.first_event_time),
                "last_event_time": self._time(record.last_event_time),
                "version": record.version,
            }
        )

    def window_totals(self, record: WindowTotals) -> bytes:
        bounds = self._windows.get((record.start, record.size_seconds))
        if bounds is None:
            if len(self._windows) >= self.max_entries:
                self._windows.clear()
            bounds = (_time(record.start), _time(record.end))
            self._windows[(record.start, record.size_seconds)] = bounds
        return orjson.dumps(
            {
                "schema_version": AGGREGATE_SCHEMA_VERSION,
                "scope": record.scope,
                "root_id": record.root_id,
                "size_seconds": record.size_seconds,
                "window_start": bounds[0],
                "window_end": bounds[1],
                "own": self._totals_json(record.own),
                "subtree": self._totals_json(record.subtree),
                "version": record.version,
            }
        )
