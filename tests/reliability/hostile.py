"""A deterministic stream of hostile raw records, and the outcome of every line.

Each record is (key, value, headers) as a hostile or broken runner could publish it:
random bytes, JSON with huge numbers, NaN/Infinity, deep nesting, non-UTF-8, negative
counts, far-future times, bad or missing headers, bad ``ss-lines`` packing, lines near the
broker's record size. Good results and re-published (duplicate) ones are mixed in. The
expected outcomes come from the worker's own pure step run over the records in order, so
the pipeline's counters and dead letters can be compared with them exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.normalize import StreamState, normalize_lines
from schemas.raw import H_LINES, H_POS, H_TS, encode_headers
from schemas.sources import LineContext
from tests.integration.workload import ScopeExpectation, Workload, result_line

Headers = list[tuple[str, Any]]
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Below the broker's default record size (1 MiB) with headers, far above any real line.
BIG_LINE_BYTES = 900 * 1024


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass
class Expected:
    """What the worker must make of the records: per-kind line counts, dead letters, usage."""

    kinds: Counter[str] = field(default_factory=Counter)
    dead: list[tuple[bytes, str]] = field(default_factory=list)  # (dead-letter value, reason)
    lines: int = 0


def headers(
    stream: str, position: int, source: str = "claude-json", *, count: int = 1, at: datetime = T0
) -> Headers:
    headers = encode_headers(LineContext(source, "hostile-runner", stream, position, at))
    return headers + ([(H_LINES, str(count).encode())] if count != 1 else [])


def _with(base: Headers, name: str, value: Any) -> Headers:
    """``base`` with header ``name`` set to ``value`` (in place, or added at the end)."""
    if any(k == name for k, _ in base):
        return [(k, value if k == name else v) for k, v in base]
    return [*base, (name, value)]


def _without(base: Headers, name: str) -> Headers:
    return [(k, v) for k, v in base if k != name]


def _deep(depth: int) -> bytes:
    return b'{"type":"result","usage":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


def hostile_lines(rng: random.Random, session: str) -> Iterator[bytes]:
    """Lines that are bad, or valid-looking with hostile values (claude-json shaped); none of
    them is valid usage, so the good results' totals stay exact."""
    base = b'{"type":"result","session_id":"%s","uuid":"u%d","total_cost_usd":%s,"usage":%s}'
    numbers = [b"-1", b"1e999", b"-1e999", b"NaN", b"Infinity", b"18446744073709551616", b"1e308"]
    n = 0
    while True:
        n += 1
        kind = rng.randrange(9)
        if kind == 0:
            yield rng.randbytes(rng.randint(0, 200))
        elif kind == 1:
            number = rng.choice(numbers)
            yield base % (session.encode(), n, b"0.5", b'{"input_tokens":%s}' % number)
        elif kind == 2:
            yield base % (session.encode(), n, rng.choice(numbers), b'{"input_tokens":1}')
        elif kind == 3:
            yield _deep(rng.choice([10, 600, 1100, 5000]))
        elif kind == 4:
            line = base % (session.encode(), n, b"0.5", b'{"input_tokens":1}')
            at = rng.randrange(len(line))
            yield line[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]) + line[at:]
        elif kind == 5:
            yield b"[" * 3000 + b"]" * 3000
        elif kind == 6:
            yield b'{"type":"result","session_id":' + b'"' + b"x" * rng.randint(600, 5000) + b'"}'
        elif kind == 7:
            yield rng.choice([b"", b"{}", b"null", b"[]", b"\x00", b'"\\ud800"'])
        else:
            yield base % (b"\\u0000", n, b"0.5", b'{"input_tokens":[1,2]}')


def bad_header_sets(rng: random.Random, stream: str, first: int) -> list[Headers]:
    """Broken headers, the i-th on position ``first + i`` of ``stream`` where it still has one."""
    changes: list[tuple[str, Any]] = [
        ("ss-format", ...),
        (H_POS, ...),
        (H_POS, str(2**64).encode()),
        (H_POS, b"-1"),
        (H_POS, b"\xff\xfe"),
        (H_TS, b"2026-11-23T12:00:00"),  # no timezone
        (H_TS, b"9999-12-31T23:59:59+00:00"),
        ("ss-format", b"no-such-format"),
        ("ss-stream", None),  # a header without a value
        (H_LINES, None),
        (H_LINES, b"0"),
        (H_LINES, b"10001"),
        (H_LINES, b"two"),
    ]
    sets = [
        _without(headers(stream, first + i), name)
        if value is ...
        else _with(headers(stream, first + i), name, value)
        for i, (name, value) in enumerate(changes)
    ]
    sets.append([(f"ss-label-{i}", rng.randbytes(8)) for i in range(3)])
    return sets


@dataclass
class HostileStream:
    """Records in publishing order, the good usage they carry and their expected outcomes."""

    records: list[RawRecord]
    workload: Workload
    expected: Expected


def build_hostile_stream(seed: int, *, groups: int, big_lines: int) -> HostileStream:
    """``groups`` rounds of: a good result, a duplicate, hostile lines, bad headers, a bad and
    a mixed packed record; plus ``big_lines`` lines near the broker's record size."""
    rng = random.Random(seed)
    tag = f"{seed:x}"
    session = f"hostile-good-{tag}"
    good_stream, bad_stream = f"hostile:{tag}/good.jsonl", f"hostile:{tag}/bad.jsonl"
    expectation = ScopeExpectation()
    records: list[RawRecord] = []
    bad_pos = 0
    lines = hostile_lines(rng, session)
    for group in range(groups):
        good_pos = group + 1
        line, tokens, cost = result_line(session, f"{session}-run-{group}", rng)
        expectation.own_events += 1
        expectation.own_cost += cost
        expectation.subtree_cost += cost
        for name, value in tokens.items():
            expectation.own_tokens[name] += value
            expectation.subtree_tokens[name] += value
        good = RawRecord(good_stream.encode(), line, headers(good_stream, good_pos))
        records.append(good)
        if group % 3 == 0:
            records.append(good)  # a transport duplicate: same stream, same position
        for _ in range(rng.randint(1, 4)):
            bad_pos += 1
            records.append(RawRecord(bad_stream.encode(), next(lines), headers(bad_stream, bad_pos)))
        bad_sets = bad_header_sets(rng, bad_stream, bad_pos + 1)
        for bad in bad_sets:  # a valid result: only its headers make it dead
            victim, _, _ = result_line(f"hostile-victim-{tag}", f"victim-{group}", rng)
            # Key = stream id (the raw contract keeps a stream's records in one partition, in
            # order); no key for records that name no stream.
            key = bad_stream.encode() if dict(bad).get("ss-stream") else None
            records.append(RawRecord(key, victim, bad))
        bad_pos += len(bad_sets)
        bad_pos += 1
        records.append(RawRecord(bad_stream.encode(), None, headers(bad_stream, bad_pos)))  # no value
        packed = [next(lines).replace(b"\n", b" ") for _ in range(3)]
        bad_pos += 1  # ss-lines says 3, the value holds 2 lines: the whole record is dead
        records.append(
            RawRecord(bad_stream.encode(), b"\n".join(packed[:2]), headers(bad_stream, bad_pos, count=3))
        )
        bad_pos += 1  # a packed record of 3 hostile lines: each line is its own dead letter
        records.append(
            RawRecord(bad_stream.encode(), b"\n".join(packed), headers(bad_stream, bad_pos, count=3))
        )
        bad_pos += 2
    for _ in range(big_lines):
        bad_pos += 1
        big = b'{"type":"result","pad":"' + b"x" * BIG_LINE_BYTES + b'"}'
        records.append(RawRecord(bad_stream.encode(), big, headers(bad_stream, bad_pos)))
    workload = Workload(runs=[], expected={session: expectation}, bad_lines=[])
    return HostileStream(records, workload, expected_outcomes(records))


def expected_outcomes(records: list[RawRecord]) -> Expected:
    """Run the worker's pure normalize step over the records in order, with its stream state."""
    states: dict[str, StreamState] = {}
    expected = Expected()
    for record in records:
        for outcome in normalize_lines(record.value, record.headers, states.get, key=record.key):
            expected.lines += 1
            expected.kinds[outcome.kind] += 1
            if outcome.new_state is not None and outcome.context is not None:
                states[outcome.context.stream_id] = outcome.new_state
            if outcome.kind == "dead":
                value = outcome.line if outcome.line is not None else record.value or b""
                expected.dead.append((value, outcome.reason or "unknown"))
    return expected
