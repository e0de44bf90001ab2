"""The rollup stage: usage deltas in, per-scope totals and windows, and the public usage topic out.

Input ``deltas`` is keyed by root scope, so a whole agent tree's totals, windows and marks
live in one partition. Per delta (schemas/accounting.py::rollup_step): a key whose origin
mark covers it applied it already (a repeat after a crash); otherwise it is added to its
own scope, every ancestor, and their event-time windows. Tables ``totals`` and ``windows``
hold each key's record with its origin marks (schemas/accounting.py::Stored).

A delta whose application would take a total out of its range (schemas/README.md, "Ranges")
is terminal for that delta: it is dead-lettered and counted, and nothing of it is applied.
Only applied deltas reach ``usage`` (one record per event, key = root scope, the original
event JSON with its ``ss-origin``): the lake and every consumer of ``usage`` see exactly
what ``totals`` counted. ``totals`` and ``windows`` get one upsert per touched key per batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from schemas.accounting import H_ORIGIN, R, RollupView, Stored, WindowConfig, parse_delta, rollup_step
from schemas.decoded_events import DecodedEvents
from schemas.errors import TerminalError
from schemas.rollup import RecordJson, ScopeTotals, WindowTotals
from schemas.usage import UsageEvent
from streams.stages.base import Effects, Output, Record, StateView, packed_dead_letter

TOTALS = "totals"
WINDOWS = "windows"
USAGE = "usage"
# Decoded table values kept between batches (a hot tree's keys are read every batch).
DECODED_CACHE_KEYS = 50_000


class RollupStage:
    name = "rollup"
    input_topic = "deltas"
    tables: tuple[str, ...] = (TOTALS, WINDOWS)

    def __init__(self, windows: WindowConfig, decoded: DecodedEvents | None = None) -> None:
        self.windows = windows
        # Events by their bytes: the ledger's of this process (decoded here without
        # decoding) and those it publishes on ``usage``, for this process's lake sink
        # (which would decode the same bytes again): schemas/decoded_events.py.
        self.decoded = decoded
        self._decoded: dict[bytes, tuple[bytes, Any]] = {}
        self._json = RecordJson()

    def _stored(self, state: StateView, table: str, key: str, *, kind: Any) -> Any:
        """The Stored value of ``key``, decoded once per table value."""
        raw_key = key.encode()
        data = state.get(table, raw_key)
        if data is None:
            return None
        hit = self._decoded.get(raw_key)
        if hit is not None and (hit[0] is data or hit[0] == data):
            return hit[1]
        value = Stored.from_bytes(data, kind)
        self._remember(raw_key, data, value)
        return value

    def _remember(self, key: bytes, data: bytes, value: Any) -> None:
        if len(self._decoded) >= DECODED_CACHE_KEYS:
            self._decoded.clear()
        self._decoded[key] = (data, value)

    def handle(self, batch: Sequence[Record], read: Callable[[str, bytes], bytes | None]) -> Effects:
        effects = Effects()
        state = StateView(read, effects)
        view = RollupView(
            functools.partial(self._stored, state, TOTALS, kind=ScopeTotals),
            functools.partial(self._stored, state, WINDOWS, kind=WindowTotals),
        )
        source_of: dict[str, int] = {}
        for record in batch:
            for index, data in enumerate(effects.envelopes(record, "deltas")):
                self._apply(effects, view, record, index, data)
                for key in view.last_touched:
                    source_of.setdefault(key, record.partition)
        self._emit(effects, view, source_of)
        return effects

    def _apply(self, effects: Effects, view: RollupView, record: Record, index: int, data: bytes) -> None:
        """One delta: applied (and sent on ``usage``), a repeat, or dead-lettered."""
        try:
            origin, event = parse_delta(
                data, self.decoded.take if self.decoded is not None else UsageEvent.from_json
            )
            applied = rollup_step(event, view, self.windows, origin)
        except TerminalError as exc:
            view.last_touched.clear()
            effects.counters["rejected_deltas"] += 1
            effects.dead(packed_dead_letter(record, f"usage delta: {exc.reason}", data, index))
            return
        effects.counters["deltas"] += 1
        if not applied:
            return
        effects.events.append(event)
        head, _, body = data.partition(b" ")
        effects.send(Output(USAGE, event.root_id.encode(), body, ((H_ORIGIN, head),)))
        if self.decoded is not None:
            self.decoded.put(body, event)

    def _emit(self, effects: Effects, view: RollupView, source_of: dict[str, int]) -> None:
        """One upsert per touched key (its current record), and the state of each changed one."""
        self._emit_table(
            effects, TOTALS, view.touched_totals, view.totals_writes, view.stored_totals,
            self._json.scope_totals, source_of,
        )  # fmt: skip
        self._emit_table(
            effects, WINDOWS, view.touched_windows, view.windows_writes, view.stored_window,
            self._json.window_totals, source_of,
        )  # fmt: skip

    def _emit_table(
        self,
        effects: Effects,
        table: str,
        touched: dict[str, None],
        written: dict[str, Stored[R]],
        current_of: Callable[[str], Stored[R] | None],
        encode: Callable[[R], bytes],  # orjson.dumps(record.to_json_dict()), schemas/rollup.py
        source_of: dict[str, int],
    ) -> None:
        for key in touched:
            current = current_of(key)
            assert current is not None
            record_json = encode(current.record)
            raw_key = key.encode()
            effects.send(Output(table, raw_key, record_json))
            if key in written:
                value = current.to_bytes(record_json)
                effects.write(table, raw_key, value, source_of[key])
                self._remember(raw_key, value, current)
