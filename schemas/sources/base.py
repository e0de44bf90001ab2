"""The contract every CLI source parser keeps.

A parser is a pure function ``parse(line, context, state) -> (observations, state)``:
- ``line`` is one raw line exactly as the runner published it (untrusted bytes);
- ``context`` is what the producer said about the line (format, runner, stream, position,
  lineage, producer timestamp, labels), never content;
- ``state`` is the parser's own per-stream state (e.g. a Codex thread id seen on an
  earlier line), ``None`` for the first line of a stream. Stateless parsers return None.

It returns zero or more :class:`Observation` (an empty list means "valid line, no usage")
or raises :class:`BadLine` with a short reason that never quotes the line's content.

An observation is ABSOLUTE: "identity X has used these tokens so far". Turning
observations into deltas (duplicates, corrections, result-vs-messages) is the ledger's
job (``schemas/ledger.py``), so every source shares one dedup rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.errors import TerminalError
from schemas.money import MoneyError, to_usd
from schemas.usage import AuthMode, SchemaError, TokenCounts, event_id_for

# No real line reports a trillion tokens in one field. This bounds one line, not a sum: a
# thousand such lines fill a total (schemas/README.md, "Ranges"), and the rollup
# dead-letters a delta that would take a total past its range.
MAX_COUNT = 10**12
# Likewise no single line reports a million dollars.
MAX_COST_USD = Decimal(10**6)
MAX_ID_LEN = 512
# The ``type`` of the marker object a producer publishes in place of a line it could not
# read as JSON (producers/redact.py), so the line's position still arrives: always bad.
UNREADABLE_MARKER_TYPE = "spendstream.unreadable"


class BadLine(TerminalError):
    """The line is not valid input for its declared format; terminal for that line."""


@dataclass(frozen=True, slots=True)
class LineContext:
    """What the producer said about a line, never its content.

    It is the raw record's contract: schemas/raw.py encodes it as record headers
    (``encode_headers``) and decodes them back (``decode_headers``), in one place.
    """

    source: str
    runner_id: str
    stream_id: str
    position: int
    published_at: datetime
    lineage: tuple[str, ...] = ()
    session_hint: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # How the runner says this stream is billed (``ss-auth``); ``auth_declared``: stated by
    # the user (--auth-mode, SPENDSTREAM_AUTH_MODE) rather than guessed from the runner's
    # environment, which decides whether it outranks what the CLI itself reports.
    auth_mode: AuthMode | None = None
    auth_declared: bool = False
    # The highest event time seen in this stream up to and including this line; set by
    # the worker (schemas/normalize.py), used to tell late events for windows.
    stream_watermark: datetime | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """Absolute usage of one identity as one line reports it.

    ``identity`` names one unit of usage (one API response, one ``claude -p`` result).
    The same identity observed again is the same usage, reported again: the ledger keeps
    the largest counts and emits only what grew.

    ``group`` with ``is_group_total`` models a reported run total that covers parts seen
    separately (stream-json's final ``result`` over its ``assistant`` messages): the
    group contributes max(sum of its parts, its reported total), per field.
    """

    identity: str
    session_id: str
    event_time: datetime
    tokens: TokenCounts
    reported_cost_usd: Decimal | None = None
    model: str | None = None
    lineage: tuple[str, ...] = ()
    agent_id: str | None = None
    auth_mode: AuthMode | None = None
    group: str | None = None
    is_group_total: bool = False
    # The format that produced this observation when it differs from the record's declared
    # one (the ``auto`` parser detects it): events carry the real source, never ``auto``.
    source: str | None = None
    # The API response the usage belongs to, as the source names it (ids only, never
    # content; per source in README.md): Claude's ``message.id`` and ``requestId``.
    message_id: str | None = None
    request_id: str | None = None


ParseResult = tuple[list[Observation], Any]
Parser = Callable[[bytes, LineContext, Any], ParseResult]


def load_json_object(line: bytes) -> dict[str, Any]:
    """Decode one JSON object line or raise BadLine (the reason never quotes the line)."""
    import orjson

    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadLine(f"not valid JSON (at char {exc.pos})") from exc
    if not isinstance(value, dict):
        raise BadLine(f"expected a JSON object, got {type(value).__name__}")
    if value.get("type") == UNREADABLE_MARKER_TYPE:
        # The producer could not read the original line and sent this marker in its place.
        raise BadLine("the producer could not read this line as a JSON object")
    return value


def count_field(obj: Mapping[str, Any], name: str) -> int:
    """A token count field: absent or null is 0; anything but a non-negative integer is bad."""
    value = obj.get(name)
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise BadLine(f"{name} must be an integer from 0 to {MAX_COUNT}")
    return value


def cost_field(obj: Mapping[str, Any], name: str) -> Decimal | None:
    """A reported USD cost: absent or null is None; else a JSON number from 0 to MAX_COST_USD."""
    value = obj.get(name)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise BadLine(f"{name} must be a number")
    try:
        amount = to_usd(value)
    except MoneyError as exc:
        raise BadLine(f"{name} must be a finite, non-negative amount") from exc
    if amount > MAX_COST_USD:
        raise BadLine(f"{name} is larger than {MAX_COST_USD} USD")
    return amount


def object_field(obj: Mapping[str, Any], name: str, *, required: bool = False) -> dict[str, Any] | None:
    """A nested JSON object: absent or null is None (or BadLine when required)."""
    value = obj.get(name)
    if value is None:
        if required:
            raise BadLine(f"missing {name}")
        return None
    if not isinstance(value, dict):
        raise BadLine(f"{name} must be an object")
    return value


def text_field(obj: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise BadLine(f"missing {name}")
        return None
    if not isinstance(value, str) or len(value) > MAX_ID_LEN:
        raise BadLine(f"{name} must be a string of at most {MAX_ID_LEN} characters")
    return value


def make_tokens(**counts: int) -> TokenCounts:
    """TokenCounts from already-checked counts; an out-of-range sum is a bad line, not a crash."""
    try:
        return TokenCounts(**counts)
    except SchemaError as exc:
        raise BadLine("token counts out of range") from exc


def sum_tokens(parts: Iterable[TokenCounts]) -> TokenCounts:
    """The field-wise sum of ``parts``; a sum out of range is a bad line, not a crash."""
    total = TokenCounts()
    try:
        for part in parts:
            total = total + part
    except SchemaError as exc:
        raise BadLine("token counts out of range") from exc
    return total


def child_scope(session_id: str, child_id: str) -> str:
    """The scope of a subagent of ``session_id``: ``<session>/agent-<child>``."""
    scope = f"{session_id}/agent-{child_id}"
    if len(scope) > MAX_ID_LEN:
        raise BadLine(f"subagent scope id longer than {MAX_ID_LEN} characters")
    return scope


def scope_lineage(context: LineContext, scope: str, *parents: str) -> tuple[str, ...]:
    """Ancestors of ``scope``, root first: the producer's lineage, then ``parents``.

    Repeats are dropped (the producer may already name the parent session) and the scope
    itself never appears in its own lineage.
    """
    seen: dict[str, None] = {}
    for ancestor in (*context.lineage, *parents):
        if not ancestor or len(ancestor) > MAX_ID_LEN:
            raise BadLine(f"lineage ids must be 1 to {MAX_ID_LEN} characters")
        if ancestor != scope:
            seen.setdefault(ancestor, None)
    return tuple(seen)


def fallback_scope(context: LineContext) -> str:
    """The scope of usage whose line names no session: the producer's hint, else the stream.

    A stream id (runner + file path) longer than a scope id may be is replaced by a digest.
    """
    for candidate in (context.session_hint, context.stream_id):
        if candidate and len(candidate) <= MAX_ID_LEN:
            return candidate
    return "stream-" + event_id_for(context.stream_id)


def parse_timestamp(value: object, fallback: datetime) -> datetime:
    """An ISO-8601 timestamp from the line (normalized to UTC), else the producer's timestamp."""
    if not isinstance(value, str):
        return fallback
    if len(value) > 64:
        raise BadLine("timestamp is not ISO-8601")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadLine("timestamp is not ISO-8601") from exc
    if parsed.tzinfo is None:
        raise BadLine("timestamp has no timezone")
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadLine("timestamp out of range") from exc
