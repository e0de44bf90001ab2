"""In-process counters of the worker: record outcomes and accounted usage (no content, ever)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from schemas.money import usd_str
from schemas.usage import UsageEvent


@dataclass
class Metrics:
    """Counts since this worker started; per-record outcomes sum to the records consumed."""

    outcomes: Counter[str] = field(default_factory=Counter)
    raw_records: int = 0
    usage_events: int = 0
    cost_usd: Decimal = Decimal(0)

    def count_record(self) -> None:
        self.raw_records += 1

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    def count_event(self, event: UsageEvent) -> None:
        self.usage_events += 1
        self.cost_usd += event.cost_usd

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "raw_records": self.raw_records,
            "records": dict(self.outcomes),
            "usage_events": self.usage_events,
            "cost_usd": usd_str(self.cost_usd),
        }
