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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas.usage import AuthMode, TokenCounts


class BadLine(ValueError):
    """The line is not valid input for its declared format; terminal for that line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LineContext:
    """What the producer said about a line (from record headers), never its content."""

    source: str
    runner_id: str
    stream_id: str
    position: int
    published_at: datetime
    lineage: tuple[str, ...] = ()
    session_hint: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


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
    return value


def count_field(obj: Mapping[str, Any], name: str) -> int:
    """A token count field: absent or null is 0; anything but a non-negative integer is bad."""
    value = obj.get(name)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise BadLine(f"{name} must be a non-negative integer")
    return value


def text_field(obj: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise BadLine(f"missing {name}")
        return None
    if not isinstance(value, str) or len(value) > 512:
        raise BadLine(f"{name} must be a string of at most 512 characters")
    return value


def parse_timestamp(value: object, fallback: datetime) -> datetime:
    """An ISO-8601 timestamp from the line, else the producer's timestamp."""
    if not isinstance(value, str):
        return fallback
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadLine("timestamp is not ISO-8601") from exc
    if parsed.tzinfo is None:
        raise BadLine("timestamp has no timezone")
    return parsed
