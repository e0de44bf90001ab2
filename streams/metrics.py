"""In-process counters of the worker: record outcomes and accounted usage (no content, ever)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from schemas.money import usd_str
from schemas.usage import UsageEvent


@dataclass
class Metrics:
    """Counts since this worker started.

    ``outcomes`` are per raw line (a packed record holds several): usage + no_usage +
    duplicate + dead = raw lines consumed. Dead letters of the later stages (a malformed
    observation or usage record) are counted apart, in ``stage_dead_letters``.
    """

    outcomes: Counter[str] = field(default_factory=Counter)
    stage_dead_letters: Counter[str] = field(default_factory=Counter)
    raw_records: int = 0
    usage_events: int = 0
    # Usage deltas the rollup stage read (repeats after a replay included): they catch up
    # with ``usage_events`` once totals and windows hold every event counted so far.
    rollup_deltas: int = 0
    # Usage whose reported cost and the price table's differ by more than 1% (counted
    # once per ledger delta; schemas/pricing.py::cost_disagrees).
    cost_disagreements: int = 0
    # Per stage: batches handled, input records in them, seconds spent handling them.
    stages: dict[str, list[float]] = field(default_factory=dict)
    cost_usd: Decimal = Decimal(0)
    # Per stage: seconds spent waiting for Kafka to acknowledge outputs (part of ``stages``).
    waiting: dict[str, float] = field(default_factory=dict)
    # Per table: keys forgotten after their time to live (streams/state.py).
    expired: Counter[str] = field(default_factory=Counter)

    def count_record(self) -> None:
        self.raw_records += 1

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    def count_event(self, event: UsageEvent) -> None:
        self.usage_events += 1
        self.cost_usd += event.cost_usd

    async def acked(self, stage: str, delivered: Awaitable[None]) -> None:
        """Await a stage's output acknowledgements, counting the seconds spent waiting."""
        started = time.perf_counter()
        await delivered
        self.waiting[stage] = self.waiting.get(stage, 0.0) + time.perf_counter() - started

    def timed(self, stage: str, records: int, seconds: float) -> None:
        batches, total, spent = self.stages.get(stage, [0, 0, 0.0])
        self.stages[stage] = [batches + 1, total + records, spent + seconds]

    def to_json_dict(self, state_keys: dict[str, int] | None = None) -> dict[str, Any]:
        """The counters; ``state_keys`` (live keys per state table) is shown as ``state``."""
        return {
            "raw_records": self.raw_records,
            "records": dict(self.outcomes),
            "stage_dead_letters": dict(self.stage_dead_letters),
            "usage_events": self.usage_events,
            "rollup_deltas": self.rollup_deltas,
            "cost_disagreements": self.cost_disagreements,
            "cost_usd": usd_str(self.cost_usd),
            "stages": {
                stage: {
                    "batches": int(b),
                    "records": int(r),
                    "seconds": round(t, 3),
                    "waiting_for_acks_seconds": round(self.waiting.get(stage, 0.0), 3),
                }
                for stage, (b, r, t) in self.stages.items()
            },
            "state": {
                name: {"keys": keys, "expired": self.expired[name]}
                for name, keys in (state_keys or {}).items()
            },
        }
