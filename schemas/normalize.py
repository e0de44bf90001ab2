"""Stage 1, pure: one raw record in, exactly one outcome per line out.

Outcomes: observations (usage to account), "no usage", "duplicate" (the stream already
delivered this position), or a dead letter with a reason. Never an exception. A packed
record (``ss-lines``, schemas/packing.py) is split into its lines, each at its own position.

Transport dedup relies on the raw contract (schemas/raw.py): within one stream, positions
only grow, and all of a stream's records share one partition, in order. A position at or
below the stream's high-water mark is therefore a re-publication (a retrying producer, a
restarted watcher, a repeated backfill) and is dropped. Semantic duplicates from other
streams are the ledger's job in stage 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas import packing
from schemas.raw import MAX_LINE_BYTES, MAX_PACKED_LINES, decode_headers
from schemas.records import replaced
from schemas.sources import PARSERS, BadLine, LineContext, Observation
from schemas.usage import UNKNOWN_AUTH, AuthMode, SchemaError

# Windows end at start + size + grace: an event time near datetime.max would overflow in
# the rollup (and stop the worker on every replay). No CLI reports usage this far ahead.
LATEST_EVENT_TIME = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StreamState:
    """Per-stream state in the ``streams`` table: high-water position, parser state, and the
    highest event time seen (the stream's watermark, which windows judge lateness by)."""

    high_water: int
    parser_state: Any
    watermark: datetime | None = None

    def to_bytes(self) -> bytes:
        wm = None if self.watermark is None else self.watermark.isoformat()
        return orjson.dumps({"hw": self.high_water, "ps": self.parser_state, "wm": wm})

    @classmethod
    def from_bytes(cls, data: bytes) -> StreamState:
        raw = orjson.loads(data)
        wm = datetime.fromisoformat(raw["wm"]) if raw.get("wm") else None
        return cls(int(raw["hw"]), raw.get("ps"), wm)


@dataclass(frozen=True)
class Outcome:
    kind: str  # "usage" | "no_usage" | "duplicate" | "dead"
    context: LineContext | None = None
    observations: Sequence[Observation] = field(default_factory=tuple)
    reason: str | None = None
    new_state: StreamState | None = None
    line: bytes | None = None  # a dead line of a packed record: its own bytes, for the DLQ


def _stream_state(context: LineContext, parser_state: Any, watermark: datetime | None) -> StreamState:
    return StreamState(context.position, parser_state, watermark)


def normalize_record(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    state_of: Any,
    *,
    key: bytes | None,
) -> Outcome:
    """Classify a one-line raw record. ``state_of(stream_id)`` gives a StreamState or None."""
    outcomes = normalize_lines(value, headers, state_of, key=key)
    return outcomes[0]


def normalize_lines(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    state_of: Any,
    *,
    key: bytes | None,
) -> list[Outcome]:
    """One outcome per line of a raw record (a packed record holds ``ss-lines`` lines).

    A record whose key, headers or packing are invalid (schemas/raw.py) is one dead
    outcome with no state change (and no context when the headers are what is invalid).
    Otherwise line ``i`` is at position ``ss-pos + i`` and each line is classified with
    the stream state the previous line left; the last outcome that carries a
    ``new_state`` holds the stream's state after the record.
    """
    try:
        context = decode_headers(headers, key=key)
    except BadLine as exc:
        return [Outcome("dead", reason=exc.reason)]
    try:
        lines = packing.unpack(value, headers, max_items=MAX_PACKED_LINES)
    except BadLine as exc:
        return [Outcome("dead", context, reason=exc.reason)]
    state: StreamState | None = state_of(context.stream_id)
    outcomes: list[Outcome] = []
    for index, line in enumerate(lines):
        line_context = context if index == 0 else replaced(context, position=context.position + index)
        outcome = _normalize_line(line, line_context, state)
        if outcome.kind == "dead" and len(lines) > 1:
            outcome = replaced(outcome, line=line)
        if outcome.new_state is not None:
            state = outcome.new_state
        outcomes.append(outcome)
    return outcomes


def classify_line(value: bytes, context: LineContext) -> Outcome:
    """The outcome of one line that is the first its stream delivers (no stream state):
    the per-line rules of :func:`normalize_lines` for a caller that has the line and its
    context already, such as ``parse`` (spendstream/parallel_parse.py)."""
    return _normalize_line(value, context, None)


def _normalize_line(value: bytes, context: LineContext, state: StreamState | None) -> Outcome:
    if state is not None and context.position <= state.high_water:
        return Outcome("duplicate", context=context)
    parser_state = state.parser_state if state is not None else None
    watermark = state.watermark if state is not None else None
    if len(value) > MAX_LINE_BYTES:
        reason = f"line longer than {MAX_LINE_BYTES} bytes"
        return Outcome(
            "dead", context, reason=reason, new_state=_stream_state(context, parser_state, watermark)
        )
    parser = PARSERS.get(context.source)
    if parser is None:
        reason = f"unknown format {context.source[:64]!r}"
        return Outcome(
            "dead", context, reason=reason, new_state=_stream_state(context, parser_state, watermark)
        )
    try:
        observations, next_parser_state = parser(value, context, parser_state)
    except BadLine as exc:
        return Outcome(
            "dead", context, reason=exc.reason, new_state=_stream_state(context, parser_state, watermark)
        )
    except SchemaError as exc:
        reason = f"schema: {exc}"
        return Outcome(
            "dead", context, reason=reason, new_state=_stream_state(context, parser_state, watermark)
        )
    if any(o.event_time >= LATEST_EVENT_TIME for o in observations):
        reason = f"event time at or after {LATEST_EVENT_TIME:%Y-%m-%d}"
        return Outcome(
            "dead", context, reason=reason, new_state=_stream_state(context, parser_state, watermark)
        )
    observations = [settle_auth(rescope(o, context.session_hint), context) for o in observations]
    for observation in observations:
        if watermark is None or observation.event_time > watermark:
            watermark = observation.event_time
    new_state = _stream_state(context, next_parser_state, watermark)
    if not observations:
        return Outcome("no_usage", context, new_state=new_state)
    context = replaced(context, stream_watermark=watermark)
    return Outcome("usage", context, observations=tuple(observations), new_state=new_state)


def rescope(observation: Observation, run_scope: str | None) -> Observation:
    """Account a run's usage under the scope its runner assigned (``ss-session``).

    ``spendstream run`` gives each wrapped run a scope id and passes it to child runs as
    their lineage, so the tree is made of run scopes; the CLI's own session id (which the
    parser used) is replaced by the run's scope, in the scope itself, in a subagent scope
    ``<session>/agent-<id>`` and in the lineage. Identities are untouched (dedup is by what
    the CLI reported, not by who published it).
    """
    if not run_scope:
        return observation
    session = observation.session_id.split("/", 1)[0]
    if session == run_scope:
        return observation

    def swap(scope: str) -> str:
        if scope == session:
            return run_scope
        if scope.startswith(session + "/"):
            return run_scope + scope[len(session) :]
        return scope

    lineage = tuple(swap(s) for s in observation.lineage if swap(s) != swap(observation.session_id))
    return replaced(observation, session_id=swap(observation.session_id), lineage=lineage)


def settle_auth(observation: Observation, context: LineContext) -> Observation:
    """The observation's auth mode by the strongest evidence (schemas/README.md, "Auth mode").

    What the user declared at the producer (``--auth-mode``, ``SPENDSTREAM_AUTH_MODE``), then
    what the CLI itself reported (the parser's ``auth_mode``), then what the runner's
    environment suggested, else ``unknown``: every event the worker makes names its mode.
    """
    if context.auth_mode is not None and context.auth_declared:
        mode: AuthMode = context.auth_mode
    elif observation.auth_mode is not None and observation.auth_mode != UNKNOWN_AUTH:
        mode = observation.auth_mode
    else:
        mode = context.auth_mode or UNKNOWN_AUTH
    return observation if observation.auth_mode == mode else replaced(observation, auth_mode=mode)
