"""Pure steps of the worker's ledger and rollup stages; agents only load, store and send.

- :func:`ledger_key` routes an observation to the partition that holds its ledger state:
  its group's key when it is part of a group (so the group and its parts' identities are
  kept together), else its identity's key. Identities are global, so the same usage
  reported by two streams, two runners or two sessions meets the same state.
- :func:`ledger_step` applies one observation to that state (``schemas.ledger``).
- :func:`rollup_step` adds one usage event to its scopes' totals and windows. The usage
  topic is keyed by root scope, so a whole agent tree's totals live in one partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import orjson

from schemas import envelope, ledger
from schemas.ledger_groups import GroupState
from schemas.pricing import CostMode, PriceTable
from schemas.rollup import EventSums, ScopeTotals, WindowTotals, event_windows, scope_records, window_added
from schemas.sources import LineContext, Observation
from schemas.usage import SchemaError, UsageEvent


def ledger_key(observation: Observation) -> str:
    return ledger.group_key(observation) or ledger.identity_key(observation)


@dataclass(frozen=True)
class LedgerWrites:
    """The event (if any) one observation yields, and the state to store under each key."""

    event: UsageEvent | None
    states: dict[str, bytes]


def ledger_step(
    observation: Observation,
    context: LineContext,
    state_get: Callable[[str], bytes | None],
    prices: PriceTable,
    mode: CostMode,
) -> LedgerWrites:
    identity_key = ledger.identity_key(observation)
    group_key = ledger.group_key(observation)
    identity_raw = state_get(identity_key)
    group_raw = state_get(group_key) if group_key is not None else None
    step = ledger.apply(
        observation,
        context,
        ledger.IdentityState.from_json(identity_raw) if identity_raw is not None else None,
        GroupState.from_json(group_raw) if group_raw is not None else None,
        prices=prices,
        mode=mode,
    )
    states = {identity_key: step.identity_state.to_json()}
    if group_key is not None and step.group_state is not None:
        states[group_key] = step.group_state.to_json()
    return LedgerWrites(step.event, states)


@dataclass(frozen=True)
class WindowConfig:
    sizes_seconds: tuple[int, ...] = (60, 3600)
    grace_seconds: int = 300


R = TypeVar("R", ScopeTotals, WindowTotals)

Origin = tuple[int, int]
"""Where a usage event came from: (observations partition, position) of the ledger input,
the position being the record's offset and the envelope's index in it (origin_header)."""


@dataclass(frozen=True)
class Stored(Generic[R]):
    """A rollup record with, per ledger input partition, the highest input offset applied.

    The worker is at-least-once (streams/runner/io.py): after a crash or a rebalance the
    ledger replays its uncommitted inputs and sends their usage events again, with the
    same origin (input partition and offset). For one rollup key, the events of one
    ledger partition arrive in input order, repeats after the original, so an event whose
    origin offset is at or below the key's mark for that partition was already applied.
    The mark is stored in the same table value as the record it guards: whichever of a
    batch's changelog writes survived a crash, each key knows exactly what it holds.
    Events without an origin (not sent by the ledger) are always applied.
    """

    record: R
    origins: tuple[Origin, ...] = ()

    def applied(self, origin: Origin | None) -> bool:
        if origin is None:
            return False
        partition, offset = origin
        for p, o in self.origins:  # noqa: SIM110 (a loop: no generator made per key and event)
            if p == partition and offset <= o:
                return True
        return False

    def after(self, record: R, origin: Origin | None) -> Stored[R]:
        if origin is None:
            return Stored(record, self.origins)
        partition, offset = origin
        origins = self.origins
        if not origins or (len(origins) == 1 and origins[0][0] == partition):
            return Stored(record, ((partition, offset),))  # what sorting the one mark gives
        marks = [item for item in origins if item[0] != partition]
        marks.append((partition, offset))
        marks.sort()
        return Stored(record, tuple(marks))

    def to_bytes(self, record_json: bytes) -> bytes:
        """The table value, given the record's JSON (already encoded for its topic)."""
        return b'{"r":%s,"o":%s}' % (record_json, orjson.dumps(self.origins))

    @staticmethod
    def from_bytes(data: bytes, kind: type[R]) -> Stored[R]:
        raw = orjson.loads(data)
        return Stored(kind.from_json_dict(raw["r"]), tuple((p, o) for p, o in raw.get("o", ())))


H_ORIGIN = "ss-origin"
# An observations record packs up to MAX_ENVELOPES envelopes: the origin of the i-th is
# offset * ORIGIN_SLOTS + i, so origins still grow with the ledger's input order.
ORIGIN_SLOTS = envelope.MAX_ENVELOPES


def origin_header(partition: int, offset: int, index: int = 0) -> bytes:
    """``ss-origin`` of the usage event made from envelope ``index`` of a ledger input record."""
    return f"{partition}:{offset * ORIGIN_SLOTS + index}".encode()


def origin_of(headers: Sequence[tuple[str, bytes]] | None) -> Origin | None:
    """The ``ss-origin`` header of a usage record (``"<partition>:<offset>"``), if valid."""
    for key, value in headers or ():
        if key == H_ORIGIN:
            try:
                partition, offset = value.decode("ascii").split(":")
                return int(partition), int(offset)
            except (UnicodeDecodeError, ValueError):
                return None
    return None


def delta_line(origin: bytes, event_json: bytes) -> bytes:
    """One envelope of a ``deltas`` record: the event's ``ss-origin`` value, a space, its JSON.

    The rollup reads usage deltas packed per root-scope partition (streams/routing.py), not
    the ``usage`` topic's one record per event: Faust's per-record cost is paid per pack.
    """
    return origin + b" " + event_json


def parse_delta(
    data: bytes, decode: Callable[[bytes], UsageEvent] = UsageEvent.from_json
) -> tuple[Origin, UsageEvent]:
    """The origin and usage event of a ``deltas`` envelope; anything malformed raises
    SchemaError. ``decode``: ``UsageEvent.from_json`` or what gives the same events."""
    head, space, body = data.partition(b" ")
    origin = origin_of([(H_ORIGIN, head)]) if space else None
    if origin is None:
        raise SchemaError("a delta starts with its origin, <partition>:<offset>")
    return origin, decode(body)


@dataclass
class RollupView:
    """Lookups into the rollup tables, with this step's own writes laid over them."""

    totals_get: Callable[[str], Stored[ScopeTotals] | None]
    windows_get: Callable[[str], Stored[WindowTotals] | None]
    totals_writes: dict[str, Stored[ScopeTotals]] = field(default_factory=dict)
    windows_writes: dict[str, Stored[WindowTotals]] = field(default_factory=dict)
    # Keys an event reached, applied or already applied: their current record is sent
    # again, so a repeat after a crash also repairs an upsert that never reached the topic.
    touched_totals: dict[str, None] = field(default_factory=dict)
    touched_windows: dict[str, None] = field(default_factory=dict)
    last_touched: list[str] = field(default_factory=list)  # keys the last event reached

    def stored_totals(self, scope: str) -> Stored[ScopeTotals] | None:
        return self.totals_writes.get(scope) or self.totals_get(scope)

    def stored_window(self, key: str) -> Stored[WindowTotals] | None:
        return self.windows_writes.get(key) or self.windows_get(key)


def rollup_step(
    event: UsageEvent, view: RollupView, windows: WindowConfig, origin: Origin | None = None
) -> bool:
    """Add one usage event to totals and windows; the writes land in ``view``.

    Returns whether some key applied the event now (False: every key had applied it, a
    repeat). A key that already applied this ``origin`` is left alone (see :class:`Stored`),
    but marked touched like the others: the caller sends every touched key's current
    record. Atomic: every new record is computed before any is written, so an event that
    would take a total out of its range raises :class:`schemas.rollup.TotalOutOfRange`
    (terminal for the event) and changes nothing.
    Lateness for windows is judged by the event's source watermark (the highest event
    time its own stream had reached), not by the order the usage topic delivers events in:
    events of one tree reach this stage through several ledger partitions, out of order.
    """
    view.last_touched.clear()
    scopes = event.scopes
    sums = EventSums(event)
    # One lookup per key: nothing is written before every new record is computed.
    found_totals = {scope: view.stored_totals(scope) for scope in scopes}
    previous: list[ScopeTotals | None] = []
    skipped: list[bool] = []
    for scope in scopes:
        stored = found_totals[scope]
        done = stored is not None and stored.applied(origin)
        skipped.append(done)
        previous.append(None if stored is None or done else stored.record)
    records = scope_records(sums, scopes, previous, skipped)
    found_windows: dict[str, Stored[WindowTotals] | None] = {}
    window_records: list[tuple[str, WindowTotals]] = []  # key (the record's own), record
    skipped_windows: list[str] = []
    for size, start, suffix in event_windows(
        event, windows.sizes_seconds, event.source_watermark, windows.grace_seconds
    ):
        for scope in scopes:
            key = scope + suffix
            stored_w = found_windows[key] = view.stored_window(key)
            if stored_w is None:
                window_records.append((key, window_added(sums, None, scope, size, start)))
            elif stored_w.applied(origin):
                skipped_windows.append(key)
            else:
                record_w = window_added(sums, stored_w.record, scope, size, start)
                window_records.append((record_w.key, record_w))
    for record in records:
        scope = record.scope
        stored = view.totals_writes.get(scope) or (
            found_totals[scope] if scope in found_totals else view.totals_get(scope)
        )
        view.totals_writes[scope] = (stored or Stored(record)).after(record, origin)
    for key, record_w in window_records:
        stored_w = view.windows_writes.get(key) or (
            found_windows[key] if key in found_windows else view.windows_get(key)
        )
        view.windows_writes[key] = (stored_w or Stored(record_w)).after(record_w, origin)
    last_touched = view.last_touched
    for scope in scopes:
        view.touched_totals[scope] = None
        last_touched.append(scope)
    for key in (*(key for key, _ in window_records), *skipped_windows):
        view.touched_windows[key] = None
        last_touched.append(key)
    return bool(records or window_records)
