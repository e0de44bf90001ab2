"""Every parser, fed random and hostile input: only BadLine or valid output, never a crash.

Valid output means: observations that the ledger turns into UsageEvents that survive their
own JSON round trip, and a parser state that is plain JSON. A BadLine reason never quotes
the line: the marker planted in every string never appears in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.ledger import MemoryLedger
from schemas.sources import PARSERS, BadLine, Observation
from schemas.usage import UsageEvent

from ..support import context

MARKER = "S3CRET-MARKER"
FORMATS = sorted(PARSERS)
SHARED = Path(__file__).resolve().parents[5] / "shared" / "fixtures" / "real"
GEMINI = Path(__file__).resolve().parents[3] / "fixtures" / "gemini"
OPENCLAW = Path(__file__).resolve().parents[3] / "fixtures" / "openclaw"
KEYS = [
    "type", "subtype", "message", "usage", "id", "model", "requestId", "sessionId", "session_id", "uuid",
    "timestamp", "isSidechain", "agentId", "isApiErrorMessage", "parent_tool_use_id", "modelUsage",
    "total_cost_usd", "cost_usd", "costUSD", "input_tokens", "output_tokens", "cache_read_input_tokens",
    "cache_creation_input_tokens", "cache_creation", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens",
    "server_tool_use", "web_search_requests", "inputTokens", "outputTokens", "cacheReadInputTokens",
    "cacheCreationInputTokens", "thread_id", "cached_input_tokens", "reasoning_output_tokens", "payload",
    "info", "total_token_usage", "stats", "models", "tokens", "prompt", "candidates", "cached", "thoughts",
    "tool", "total", "role", "input", "output", "cacheRead", "cacheWrite", "cost", "provider",
]  # fmt: skip
TYPES = [
    "assistant", "result", "user", "system", "thread.started", "turn.completed", "session_meta",
    "turn_context", "event_msg", "token_count", "stream_event", "summary", "session", "message",
]  # fmt: skip

SPECIAL_TEXT = [
    "<synthetic>",
    "claude-opus-4-5",
    "gpt-5",
    "2026-01-06T09:16:06.951Z",
    "9999-12-31T23:59:59-12:00",
]
hostile_numbers = st.one_of(
    st.integers(-(2**63), 2**64),
    st.sampled_from([0, 1, -1, 10**12, 10**12 + 1, 10**15, 2**53, 10**18]),
    st.floats(allow_nan=False, allow_infinity=False),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    hostile_numbers,
    st.text(max_size=20).map(lambda s: MARKER + s),
    st.sampled_from([*TYPES, *SPECIAL_TEXT]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8).map(lambda s: MARKER + s))
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=40,
)
json_objects = st.dictionaries(keys, json_values, max_size=8).flatmap(
    lambda d: st.sampled_from(TYPES).map(lambda t: {**d, "type": t}) | st.just(d)
)


def encode(value: Any) -> bytes:
    """JSON text of ``value``; stdlib json, because orjson refuses integers beyond 64 bits."""
    return json.dumps(value).encode()


def real_lines() -> list[bytes]:
    paths = [*sorted(SHARED.rglob("*.json*")), *sorted(OPENCLAW.glob("*.jsonl"))]
    lines = [line for path in paths for line in path.read_bytes().splitlines()[:40]]
    return [line for line in lines if line.strip()] + [p.read_bytes() for p in sorted(GEMINI.glob("*.json"))]


def check(fmt: str, line: bytes, state: Any = None) -> Any:
    """Parse and account ``line``; assert the outcome is BadLine or valid output. Returns the state."""
    ctx = context(fmt, lineage=("root",))
    try:
        observations, new_state = PARSERS[fmt](line, ctx, state)
    except BadLine as exc:
        assert MARKER not in exc.reason
        return state
    assert orjson.loads(orjson.dumps(new_state)) == new_state
    for mode in ("reported", "computed", "reported-only"):
        ledger = MemoryLedger(mode=mode)
        for obs in observations:
            assert isinstance(obs, Observation)
            event = ledger.observe(obs, ctx)
            if event is not None:
                assert UsageEvent.from_json(event.to_json()) == event
    return new_state


@pytest.mark.parametrize("fmt", FORMATS)
@given(line=st.binary(max_size=512))
def test_random_bytes(fmt: str, line: bytes) -> None:
    check(fmt, line)


@pytest.mark.parametrize("fmt", FORMATS)
@given(obj=json_objects)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_random_json_objects_shaped_like_cli_lines(fmt: str, obj: dict[str, Any]) -> None:
    check(fmt, encode(obj))


def mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node that ``path`` picks (indices mod the number of children)."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    if isinstance(value, dict):
        key = sorted(value)[path[0] % len(value)]
        return {**value, key: mutate(value[key], path[1:], replacement)}
    index = path[0] % len(value)
    return [*value[:index], mutate(value[index], path[1:], replacement), *value[index + 1 :]]


@pytest.mark.parametrize("fmt", FORMATS)
@given(
    index=st.integers(0, 10**6),
    path=st.lists(st.integers(0, 50), min_size=1, max_size=6),
    replacement=json_values,
)
def test_real_lines_with_one_hostile_value(fmt: str, index: int, path: list[int], replacement: Any) -> None:
    lines = real_lines()
    original = orjson.loads(lines[index % len(lines)])
    check(fmt, encode(mutate(original, path, replacement)))


@pytest.mark.parametrize("fmt", FORMATS)
@given(st.lists(st.sampled_from(real_lines()) | json_objects.map(encode), max_size=8), json_values)
def test_sequences_thread_any_state(fmt: str, lines: list[bytes], start_state: Any) -> None:
    state = start_state
    for line in lines:
        state = check(fmt, line, state)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "line",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'{"type":"assistant","message":"\xff\xfe"}',
        b'{"type":"result","session_id":"\xed\xa0\x80"}',
        b'{"type":"result","total_cost_usd":NaN}',
        b"",
        b"null",
        b'"' + MARKER.encode() + b'"',
        b"\x00\x01\x02",
        b'{"type":"spendstream.unreadable","reason":"not JSON","bytes":12}',
    ],
)
def test_undecodable_lines_are_bad_lines(fmt: str, line: bytes) -> None:
    with pytest.raises(BadLine) as caught:
        PARSERS[fmt](line, context(fmt), None)
    assert MARKER not in caught.value.reason


USAGE_LINE = {
    "claude-json": b'{"type":"result","session_id":"s","usage":{"input_tokens":@V@}}',
    "claude-stream-json": b'{"type":"result","session_id":"s","usage":{"input_tokens":@V@}}',
    "claude-transcript": (
        b'{"type":"assistant","sessionId":"s","message":{"id":"m","usage":{"input_tokens":@V@}}}'
    ),
    "codex-json": b'{"type":"turn.completed","usage":{"input_tokens":@V@}}',
    "gemini-json": b'{"stats":{"models":{"m":{"tokens":{"prompt":@V@}}}}}',
    "openclaw": b'{"type":"message","message":{"role":"assistant","usage":{"input":@V@}}}',
    "auto": b'{"type":"turn.completed","usage":{"input_tokens":@V@}}',
}


def test_every_format_has_a_usage_line_template() -> None:
    assert sorted(USAGE_LINE) == FORMATS


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "count",
    [b"1e400", b"NaN", b"123456789012345678901234567890", b"-1", b"1.5", b'"1"', b"true", b"1000000000001"],
)
def test_hostile_token_counts_are_bad_lines(fmt: str, count: bytes) -> None:
    assert PARSERS[fmt](USAGE_LINE[fmt].replace(b"@V@", b"7"), context(fmt), None)[0]
    with pytest.raises(BadLine):
        PARSERS[fmt](USAGE_LINE[fmt].replace(b"@V@", count), context(fmt), None)


@pytest.mark.parametrize("fmt", FORMATS)
@given(
    stream=st.text(min_size=1, max_size=1200),
    hint=st.none() | st.text(max_size=700),
    lineage=st.lists(st.text(max_size=600), max_size=3),
)
def test_any_producer_context_gives_bad_line_or_valid_events(
    fmt: str, stream: str, hint: str | None, lineage: list[str]
) -> None:
    ctx = context(fmt, stream=stream, session_hint=hint, lineage=tuple(lineage))
    for line in (USAGE_LINE[fmt].replace(b"@V@", b"7"), *real_lines()[:5]):
        try:
            observations, _ = PARSERS[fmt](line, ctx, None)
        except BadLine:
            continue
        ledger = MemoryLedger()
        for obs in observations:
            ledger.observe(obs, ctx)
