"""Hostile raw records through the worker's pure path: never an exception, one outcome per line.

The worker stops (and replays) a batch whose handler raised (streams/batching.py), so an
input that makes any pure step raise is a poison pill: the partition never moves again.
These properties therefore follow each outcome as far as the worker takes it: the stream
state and the observation envelope must serialize, the ledger and the rollup must accept
what normalize let through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import astuple
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas import envelope, packing
from schemas.accounting import RollupView, WindowConfig, ledger_step, rollup_step
from schemas.normalize import Outcome, StreamState, normalize_lines
from schemas.pricing import default_price_table
from schemas.raw import H_LINES, H_POS, H_TS, MAX_PACKED_LINES, encode_headers
from schemas.sources import PARSERS, BadLine, LineContext
from schemas.usage import UsageEvent
from tests.conftest import REPO, SHARED_FIXTURES

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STREAM = "runner:/f"
KEY = STREAM.encode()
KINDS = {"usage", "no_usage", "duplicate", "dead"}
PRICES = default_price_table()


def _template_lines() -> list[tuple[str, bytes]]:
    """Real lines of every source (content as captured), to mutate into near-valid input."""
    found = [
        ("claude-json", SHARED_FIXTURES / "claude-json" / "result-success.json"),
        ("claude-stream-json", SHARED_FIXTURES / "claude-stream-json" / "assistant-with-usage.jsonl"),
        (
            "claude-transcript",
            SHARED_FIXTURES / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl",
        ),
        ("codex-json", SHARED_FIXTURES / "codex-exec-json" / "multi_command.jsonl"),
        ("gemini-json", REPO / "tests" / "fixtures" / "gemini" / "two-models.json"),
        ("openclaw", REPO / "tests" / "fixtures" / "openclaw" / "8555a0a4-0b79-459d-939c-e17cdbbf4fe2.jsonl"),
    ]
    lines: list[tuple[str, bytes]] = []
    for source, path in found:
        text = path.read_bytes()
        if path.suffix == ".json":  # one document per run
            lines.append((source, orjson.dumps(orjson.loads(text))))
            continue
        for line in text.splitlines()[:40]:
            if line.strip().startswith(b"{"):
                lines.append((source, line))
    return lines


TEMPLATES = _template_lines()
HUGE_INTS = st.sampled_from([-1, -(2**63), 2**63 - 1, 2**63, 2**64, 10**12 + 1, 10**30, -(10**30)])
HOSTILE_SCALARS = st.one_of(
    HUGE_INTS,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
    st.text(max_size=30),
    st.sampled_from(["", "NaN", "-1", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "x" * 600]),
    st.booleans(),
    st.none(),
)
HOSTILE_VALUES = st.recursive(
    HOSTILE_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to the values of a JSON document, down to a few levels (what parsers read)."""
    out = [prefix] if prefix else []
    if len(prefix) >= 6:
        return out
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(_paths(child, (*prefix, index)))
    return out


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> None:
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new


DEEP = "\u2063deep\u2063"  # replaced by a deeply nested value once the line is serialized


def _splice_deep(data: bytes, depth: int) -> bytes:
    nested = b'{"usage":' * depth + b"1" + b"}" * depth
    return data.replace(orjson.dumps(DEEP), nested)


@st.composite
def mutated_lines(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real line of some source with fields replaced by hostile values, as bytes."""
    source, line = draw(st.sampled_from(TEMPLATES))
    doc = orjson.loads(line)
    paths = _paths(doc)
    for _ in range(draw(st.integers(1, 4))):
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        new = draw(st.one_of(HOSTILE_VALUES, st.just(DEEP)))
        _replace(doc, path, new)
        paths = _paths(doc)
    # json, not orjson: it writes NaN, Infinity and integers of any size, as a hostile producer might.
    data = _splice_deep(
        json.dumps(doc, allow_nan=True, ensure_ascii=False).encode(), draw(st.integers(1, 3000))
    )
    if draw(st.booleans()):  # a non-UTF-8 byte somewhere in the line
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"])) + data[at:]
    return source, data


LINES = st.one_of(
    mutated_lines().map(lambda pair: pair[1]),
    st.sampled_from(TEMPLATES).map(lambda pair: pair[1]),
    st.binary(max_size=300),
    st.sampled_from([b"", b"{}", b"[]", b"null", b"NaN", b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000]),
)
SOURCES = st.sampled_from([*PARSERS, "nope", ""])
HEADER_TEXT = st.one_of(
    st.sampled_from(
        [
            "1",
            "0",
            "-5",
            "1_000",
            "\uff15",
            " 7 ",
            "99999999999999999999",
            str(2**63 - 1),
            str(2**63),
            "9999-12-31T23:59:59+00:00",
            "0001-01-01T00:00:00+00:00",
            "2026-11-23T12:00:00",
            "10001",
            "",
        ]
    ),
    st.text(max_size=20),
).map(str.encode)


@st.composite
def hostile_headers(draw: st.DrawFn, count: int) -> list[tuple[str, Any]]:
    """Valid headers for ``count`` lines, then dropped, replaced, duplicated or null values."""
    source = draw(SOURCES)
    at = draw(st.sampled_from([T0, datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]))
    context = LineContext(source, "runner", STREAM, draw(st.integers(1, 10**6)), at, ("root",))
    headers: list[tuple[str, Any]] = list(encode_headers(context))
    if count != 1:
        headers.append((H_LINES, str(count).encode()))
    for _ in range(draw(st.integers(0, 3))):
        index = draw(st.integers(0, len(headers) - 1))
        key = headers[index][0]
        action = draw(st.sampled_from(["drop", "text", "bytes", "null", "repeat"]))
        if action == "drop":
            del headers[index]
        elif action == "text":
            headers[index] = (key, draw(HEADER_TEXT))
        elif action == "bytes":
            headers[index] = (key, draw(st.binary(max_size=12)))
        elif action == "null":  # Kafka allows a header without a value; aiokafka gives None
            headers[index] = (key, None)
        else:
            headers.append((key, draw(HEADER_TEXT)))
    return headers


HostileRecord = tuple[bytes | None, bytes | None, list[tuple[str, Any]]]
# Mostly the right key; sometimes none, another stream's, or the stream id in another encoding.
KEYS = st.one_of(
    st.just(KEY),
    st.just(KEY),
    st.just(KEY),
    st.none(),
    st.binary(max_size=12),
    st.just(STREAM.encode("utf-16")),
)


@st.composite
def hostile_records(draw: st.DrawFn) -> HostileRecord:
    """(key, value, headers) of a raw record: mostly well packed, with hostile parts."""
    lines = draw(st.lists(LINES, min_size=1, max_size=4))
    if draw(st.booleans()):
        lines = [line.replace(b"\n", b" ") for line in lines]
    value: bytes | None = b"\n".join(lines) if draw(st.integers(0, 20)) else None
    return draw(KEYS), value, draw(hostile_headers(len(lines)))


def follow_like_the_worker(outcome: Outcome) -> None:
    """What the worker does with an outcome (streams/app.py), on dict-backed state."""
    if outcome.new_state is not None:
        assert StreamState.from_bytes(outcome.new_state.to_bytes()) == outcome.new_state
    ledger: dict[str, bytes] = {}
    totals: dict[str, Any] = {}
    windows: dict[str, Any] = {}
    for observation in outcome.observations:
        assert outcome.context is not None
        decoded, context = envelope.decode(envelope.encode(observation, outcome.context))
        writes = ledger_step(decoded, context, ledger.get, PRICES, "reported")
        for key, value in writes.states.items():
            ledger[key] = value
        if writes.event is None:
            continue
        event = UsageEvent.from_json(writes.event.to_json())
        view = RollupView(totals.get, windows.get)
        rollup_step(event, view, WindowConfig())
        totals.update(view.totals_writes)
        windows.update(view.windows_writes)


def check(record: HostileRecord, state_of: Callable[[str], Any]) -> None:
    key, value, headers = record
    outcomes = normalize_lines(value, headers, state_of, key=key)
    assert outcomes and all(o.kind in KINDS for o in outcomes)
    whole_record_dead = len(outcomes) == 1 and outcomes[0].kind == "dead"
    try:
        declared = len(packing.unpack(value, headers, max_items=MAX_PACKED_LINES))
    except BadLine:
        assert whole_record_dead
    else:
        assert whole_record_dead or len(outcomes) == declared
    if key is None or (key != KEY and [v for k, v in headers if k == "ss-stream"] == [KEY]):
        assert whole_record_dead and outcomes[0].new_state is None
    for outcome in outcomes:
        if outcome.kind == "dead":
            assert outcome.reason
        if outcome.kind == "usage":
            assert outcome.observations
        for observation in outcome.observations:
            assert min(astuple(observation.tokens)) >= 0
            assert observation.reported_cost_usd is None or observation.reported_cost_usd >= 0
        follow_like_the_worker(outcome)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_records())
def test_hostile_records_never_raise_and_get_one_outcome_per_line(record: HostileRecord) -> None:
    check(record, lambda _stream: None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_records(), st.integers(0, 2**62), st.sampled_from([None, {"x": 1}, [1, 2], "s"]))
def test_hostile_records_on_an_existing_stream_never_raise(
    record: HostileRecord, high_water: int, parser_state: Any
) -> None:
    state = StreamState(high_water, parser_state, T0)
    check(record, lambda _stream: state)


def _one_line_headers(**replace: bytes | None) -> list[tuple[str, Any]]:
    headers: list[tuple[str, Any]] = list(encode_headers(LineContext("claude-json", "r", STREAM, 1, T0)))
    return [(k, replace.get(k, v)) for k, v in headers] + [
        (k, v) for k, v in replace.items() if k not in dict(headers)
    ]


RESULT = b'{"type":"result","session_id":"s","uuid":"u","total_cost_usd":0.5,"usage":{"input_tokens":1}}'


@example(str(2**64).encode())
@given(st.integers(2**63 - 10_000, 2**80).map(lambda n: str(n).encode()))
def test_a_position_beyond_64_bits_is_a_dead_letter_not_a_poison_pill(position: bytes) -> None:
    """The stream state and the envelope are JSON with 64-bit integers (orjson): a position
    that does not fit used to pass normalize and make the worker's batch raise on every replay."""
    check((KEY, RESULT, _one_line_headers(**{H_POS: position})), lambda _stream: None)


def test_an_event_time_at_the_end_of_the_calendar_is_a_dead_letter_not_a_poison_pill() -> None:
    """A window's end (start + size + grace) past datetime.max raised OverflowError in the
    rollup batch, stopping the worker on every replay of that usage event."""
    outcomes = normalize_lines(
        RESULT, _one_line_headers(**{H_TS: b"9999-12-31T23:59:59+00:00"}), lambda _: None, key=KEY
    )
    (outcome,) = outcomes
    assert outcome.kind == "dead"
    follow_like_the_worker(outcome)


def test_a_header_without_a_value_is_a_dead_letter() -> None:
    """Kafka headers may carry no value (aiokafka gives None)."""
    for key in (H_LINES, H_POS):
        (outcome,) = normalize_lines(RESULT, _one_line_headers(**{key: None}), lambda _stream: None, key=KEY)
        assert outcome.kind == "dead", key
