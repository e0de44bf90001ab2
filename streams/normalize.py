"""One raw record in, exactly one outcome out: usage events, "no usage", or dead letter.

Pure: no Faust, no Kafka. The agent calls :func:`normalize_record` and only moves what it
returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from schemas.money import ZERO_USD
from schemas.raw import MAX_LINE_BYTES, context_from_headers
from schemas.sources import PARSERS, BadLine, LineContext, Observation
from schemas.usage import CostSource, SchemaError, UsageEvent, event_id_for


@dataclass(frozen=True)
class DeadLetter:
    """Why a record could not be used; the original bytes travel with it, not in here."""

    reason: str


@dataclass(frozen=True)
class Outcome:
    events: Sequence[UsageEvent] = field(default_factory=tuple)
    dead: DeadLetter | None = None

    @property
    def no_usage(self) -> bool:
        return self.dead is None and not self.events


def event_from_observation(obs: Observation, context: LineContext) -> UsageEvent:
    """The full usage of one observation as one event (no earlier observation of it counted)."""
    cost: Decimal = obs.reported_cost_usd if obs.reported_cost_usd is not None else ZERO_USD
    cost_source: CostSource = "reported" if obs.reported_cost_usd is not None else "unpriced"
    return UsageEvent(
        event_id=event_id_for(obs.identity, "full"),
        source=context.source,
        runner_id=context.runner_id,
        session_id=obs.session_id,
        lineage=obs.lineage,
        agent_id=obs.agent_id,
        model=obs.model,
        event_time=obs.event_time,
        tokens=obs.tokens,
        cost_usd=cost,
        cost_source=cost_source,
        auth_mode=obs.auth_mode,
        labels=context.labels,
    )


def normalize_record(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> Outcome:
    """Parse one raw record; bad input becomes a dead letter with a reason, never an exception."""
    if value is None:
        return Outcome(dead=DeadLetter("record has no value"))
    if len(value) > MAX_LINE_BYTES:
        return Outcome(dead=DeadLetter(f"line longer than {MAX_LINE_BYTES} bytes"))
    try:
        context = context_from_headers(headers or ())
        parser = PARSERS.get(context.source)
        if parser is None:
            return Outcome(dead=DeadLetter(f"unknown format {context.source[:64]!r}"))
        observations, _state = parser(value, context, None)
        events = [event_from_observation(obs, context) for obs in observations]
    except BadLine as exc:
        return Outcome(dead=DeadLetter(exc.reason))
    except SchemaError as exc:
        return Outcome(dead=DeadLetter(f"schema: {exc}"))
    return Outcome(events=tuple(e for e in events if not (e.tokens.is_zero() and e.cost_usd == 0)))
