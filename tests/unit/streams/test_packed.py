"""Packed raw records (``ss-lines``): one outcome per line, each at its own position."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from schemas.deadletter import H_LINE
from schemas.normalize import StreamState, normalize_lines
from schemas.raw import H_LINES, H_POS, encode_headers, encode_record
from schemas.sources import LineContext
from streams.stages.base import Record
from streams.stages.normalize import raw_dead_letter

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STREAM = "runner:/f.jsonl"
KEY = STREAM.encode()


def context(first: int) -> LineContext:
    return LineContext("claude-json", "runner", STREAM, first, T0)


def packed(first: int, lines: list[bytes]) -> tuple[bytes, list[tuple[str, bytes]]]:
    key, value, headers = encode_record(context(first), lines)
    assert key == KEY
    return value, headers


def packed_headers(first: int, count: int) -> list[tuple[str, bytes]]:
    return [*encode_headers(context(first)), (H_LINES, str(count).encode())]


def test_a_packed_record_gives_one_outcome_per_line_at_its_position(real_fixtures: Path) -> None:
    result = (real_fixtures / "claude-json" / "result-success.json").read_bytes().strip()
    outcomes = normalize_lines(*packed(10, [result, b"not json", result]), lambda _s: None, key=KEY)
    assert [o.kind for o in outcomes] == ["usage", "dead", "usage"]
    assert [o.context.position for o in outcomes if o.context] == [10, 11, 12]
    assert outcomes[1].line == b"not json"
    last = outcomes[-1].new_state
    assert last is not None and last.high_water == 12
    (obs,) = outcomes[0].observations
    assert obs.tokens.cache_read_tokens == 11459


def test_lines_at_or_below_the_high_water_mark_are_duplicates_line_by_line(real_fixtures: Path) -> None:
    result = (real_fixtures / "claude-json" / "result-success.json").read_bytes().strip()
    state = StreamState(high_water=11, parser_state=None)
    outcomes = normalize_lines(*packed(10, [b"x", b"y", result]), lambda _s: state, key=KEY)
    assert [o.kind for o in outcomes] == ["duplicate", "duplicate", "usage"]


def test_a_record_whose_line_count_disagrees_is_one_dead_outcome() -> None:
    outcomes = normalize_lines(b"a\nb", packed_headers(1, 3), lambda _s: None, key=KEY)
    assert [o.kind for o in outcomes] == ["dead"]
    assert outcomes[0].reason == "packed record holds 2 lines, header ss-lines says 3"
    headers = [(k, v) for k, v in packed_headers(1, 2) if k != H_LINES] + [(H_LINES, b"0")]
    assert (
        normalize_lines(b"a\nb", headers, lambda _s: None, key=KEY)[0].reason
        == "header ss-lines out of range 1..10000"
    )


def test_a_dead_line_of_a_packed_record_is_dead_lettered_alone() -> None:
    value, headers = packed(5, [b'{"type": "system"}', b"\xff\xfe"])
    record = Record("p.raw", 3, 77, KEY, value, tuple(headers))
    outcomes = normalize_lines(record.value, record.headers, lambda _s: None, key=KEY)
    dead = raw_dead_letter(record, outcomes[1])
    names = dict(dead.headers)
    assert dead.value == b"\xff\xfe" and dead.topic == "deadletter" and dead.key == record.key
    assert names[H_POS] == b"6" and names[H_LINE] == b"1" and H_LINES not in names
    assert names["ss-dlq-offset"] == b"77" and names["ss-dlq-reason"]
