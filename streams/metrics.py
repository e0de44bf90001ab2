"""In-process counters of the worker: record outcomes and accounted usage (no content, ever)."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from schemas.money import usd_str
from schemas.unpriced import model_key
from streams.stages.base import Effects

log = logging.getLogger(__name__)

# Set by the supervisor for its worker child: {"<reason>": count} of earlier stops.
RESTARTS_ENV = "SPENDSTREAM_WORKER_RESTARTS"
MAX_MODELS = 64


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
    # Per table: keys forgotten after their time to live (streams/runner/tables.py).
    expired: Counter[str] = field(default_factory=Counter)
    # Deltas the rollup dead-lettered because a total would leave its range (schemas/README.md).
    rejected_deltas: int = 0
    # Raw records dead-lettered because their runner signature or stream id did not match
    # the runner they name (schemas/signing.py; only with a fleet secret).
    runner_identity_rejected: int = 0
    # Observations normalize did not send because they repeat, exactly, the counts of the
    # last one of their identity in the same batch (streams/stages/normalize.py).
    repeated_observations: int = 0
    # Usage events that got no cost, per model ("(no model)" when they name none).
    unpriced_events: Counter[str] = field(default_factory=Counter)
    # Per stage: times a batch's outputs were sent again after a Kafka error (transient).
    transient_retries: Counter[str] = field(default_factory=Counter)
    # Why earlier runs of this worker stopped and were restarted (spendstream/supervise.py).
    restarts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_this_run(cls) -> Metrics:
        """Counters of a new worker process, with why its predecessors stopped (the supervisor
        passes the counts in RESTARTS_ENV, spendstream/supervise.py)."""
        metrics = cls()
        try:
            restarts = orjson.loads(os.environ.get(RESTARTS_ENV, "{}"))
        except orjson.JSONDecodeError:
            restarts = {}
        if isinstance(restarts, dict):
            metrics.restarts = {str(k): int(v) for k, v in restarts.items() if isinstance(v, int)}
        return metrics

    def absorb(self, stage: str, records: int, effects: Effects, seconds: float) -> None:
        """Count what one batch of ``stage`` did."""
        self.timed(stage, records, seconds)
        if stage == "normalize":
            self.raw_records += records
            self.outcomes.update(effects.outcomes)
        if effects.dead_letters:
            self.stage_dead_letters[stage] += effects.dead_letters
        if stage == "ledger":
            self.usage_events += len(effects.events)
            self.cost_usd += effects.cost_usd
            for event in effects.events:
                if event.cost_source == "unpriced":
                    self.unpriced_events[self._model_slot(event.model)] += 1
        for warning in effects.warnings:
            log.warning("%s: %s", stage, warning)
        self.cost_disagreements += effects.counters["cost_disagreements"]
        self.rollup_deltas += effects.counters["deltas"] + effects.counters["rejected_deltas"]
        self.rejected_deltas += effects.counters["rejected_deltas"]
        self.runner_identity_rejected += effects.counters["runner_identity_rejected"]
        self.repeated_observations += effects.counters["repeated_observations"]

    def _model_slot(self, model: str | None) -> str:
        """A model's counter: names come from runners (untrusted), so at most MAX_MODELS of
        them are kept, each cut to 100 characters, the rest counted as ``(other)``."""
        key = model_key(model)[:100]
        if key not in self.unpriced_events and len(self.unpriced_events) >= MAX_MODELS:
            return "(other)"
        return key

    def retried(self, stage: str) -> Callable[[], None]:
        def count() -> None:
            self.transient_retries[stage] += 1

        return count

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
            "rejected_deltas": self.rejected_deltas,
            "runner_identity_rejected": self.runner_identity_rejected,
            "repeated_observations": self.repeated_observations,
            "unpriced_events": dict(self.unpriced_events),
            "transient_retries": dict(self.transient_retries),
            "restarts": dict(self.restarts),
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
