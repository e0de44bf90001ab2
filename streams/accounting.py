"""Stage 2, pure: one observation in; usage deltas, totals and window records out.

State comes in through lookup functions and goes out as explicit writes, so the Faust
agent only loads, stores and sends. All state touched here (identity ledger, scope
totals, windows, watermark) belongs to one root scope's partition, so one Kafka
transaction commits it together with the outputs and the input offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from streams import ledger_adapter as ledger
from schemas.rollup import ScopeTotals, WindowTotals, roll_up, roll_up_windows
from schemas.sources import LineContext, Observation
from schemas.usage import UsageEvent


@dataclass(frozen=True)
class WindowConfig:
    sizes_seconds: tuple[int, ...] = (60, 3600)
    grace_seconds: int = 300


@dataclass
class StateView:
    """Lookups into the worker's tables, with this step's own writes laid over them."""

    ledger_get: Callable[[str], bytes | None]
    totals_get: Callable[[str], ScopeTotals | None]
    windows_get: Callable[[str], WindowTotals | None]
    ledger_writes: dict[str, bytes] = field(default_factory=dict)
    totals_writes: dict[str, ScopeTotals] = field(default_factory=dict)
    windows_writes: dict[str, WindowTotals] = field(default_factory=dict)

    def ledger(self, key: str) -> bytes | None:
        return self.ledger_writes[key] if key in self.ledger_writes else self.ledger_get(key)

    def totals(self, scope: str) -> ScopeTotals | None:
        return self.totals_writes.get(scope) or self.totals_get(scope)

    def window(self, key: str) -> WindowTotals | None:
        return self.windows_writes.get(key) or self.windows_get(key)


@dataclass
class Accounted:
    events: list[UsageEvent]
    totals: list[ScopeTotals]
    windows: list[WindowTotals]
    watermark: datetime | None


def account(
    observation: Observation,
    context: LineContext,
    view: StateView,
    watermark: datetime | None,
    windows: WindowConfig,
) -> Accounted:
    """Apply one observation: ledger deltas, then rollup of each delta into totals and windows."""
    events = ledger.apply(observation, context, view.ledger, view.ledger_writes)
    totals: list[ScopeTotals] = []
    window_records: list[WindowTotals] = []
    for event in events:
        for record in roll_up(event, view.totals):
            view.totals_writes[record.scope] = record
            totals.append(record)
        for window in roll_up_windows(
            event, windows.sizes_seconds, watermark, windows.grace_seconds, view.window
        ):
            view.windows_writes[window.key] = window
            window_records.append(window)
        if watermark is None or event.event_time > watermark:
            watermark = event.event_time
    return Accounted(events, totals, window_records, watermark)
