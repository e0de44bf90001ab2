"""Stage 1, pure: one raw record in, exactly one outcome out.

Outcomes: observations (usage to account), "no usage", "duplicate" (the stream already
delivered this position), or a dead letter with a reason. Never an exception.

Transport dedup relies on the raw contract (schemas/raw.py): within one stream, positions
only grow, and all of a stream's records share one partition, in order. A position at or
below the stream's high-water mark is therefore a re-publication (a retrying producer, a
restarted watcher, a repeated backfill) and is dropped. Semantic duplicates from other
streams are the ledger's job in stage 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.raw import MAX_LINE_BYTES, context_from_headers
from schemas.sources import PARSERS, BadLine, LineContext, Observation
from schemas.usage import SchemaError


@dataclass(frozen=True, slots=True)
class StreamState:
    """Per-stream state kept in the ``streams`` table: the high-water mark and parser state."""

    high_water: int
    parser_state: Any
    last_seen: str

    def to_bytes(self) -> bytes:
        return orjson.dumps({"hw": self.high_water, "ps": self.parser_state, "seen": self.last_seen})

    @classmethod
    def from_bytes(cls, data: bytes) -> StreamState:
        raw = orjson.loads(data)
        return cls(int(raw["hw"]), raw.get("ps"), str(raw.get("seen", "")))


@dataclass(frozen=True)
class Outcome:
    kind: str  # "usage" | "no_usage" | "duplicate" | "dead"
    context: LineContext | None = None
    observations: Sequence[Observation] = field(default_factory=tuple)
    reason: str | None = None
    new_state: StreamState | None = None


def _stream_state(context: LineContext, parser_state: Any) -> StreamState:
    return StreamState(context.position, parser_state, context.published_at.isoformat())


def normalize_record(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    state_of: Any,
) -> Outcome:
    """Classify one raw record. ``state_of(stream_id)`` returns that stream's StreamState or None."""
    try:
        context = context_from_headers(headers or ())
    except BadLine as exc:
        return Outcome("dead", reason=exc.reason)
    state: StreamState | None = state_of(context.stream_id)
    if state is not None and context.position <= state.high_water:
        return Outcome("duplicate", context=context)
    parser_state = state.parser_state if state is not None else None
    if value is None:
        return Outcome("dead", context, reason="record has no value", new_state=_stream_state(context, parser_state))
    if len(value) > MAX_LINE_BYTES:
        reason = f"line longer than {MAX_LINE_BYTES} bytes"
        return Outcome("dead", context, reason=reason, new_state=_stream_state(context, parser_state))
    parser = PARSERS.get(context.source)
    if parser is None:
        reason = f"unknown format {context.source[:64]!r}"
        return Outcome("dead", context, reason=reason, new_state=_stream_state(context, parser_state))
    try:
        observations, next_parser_state = parser(value, context, parser_state)
    except BadLine as exc:
        return Outcome("dead", context, reason=exc.reason, new_state=_stream_state(context, parser_state))
    except SchemaError as exc:
        reason = f"schema: {exc}"
        return Outcome("dead", context, reason=reason, new_state=_stream_state(context, parser_state))
    new_state = _stream_state(context, next_parser_state)
    if not observations:
        return Outcome("no_usage", context, new_state=new_state)
    return Outcome("usage", context, observations=tuple(observations), new_state=new_state)


def root_of(observation: Observation) -> str:
    """Partition key of stage 2: the root scope, so a whole agent tree is accounted together."""
    return observation.lineage[0] if observation.lineage else observation.session_id
