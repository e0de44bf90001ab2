"""The native pruned decoder (schemas/_pruned_json.c) against orjson, and its reading of a
line against ``plain_response``.

Its contract: for any bytes, ``load`` declines (None) or gives exactly
``prune(orjson.loads(line))``, types included (``1``, ``1.0`` and ``True`` differ here); it
never accepts a line orjson refuses. Checked on every line of every fixture, on the hostile
corpus, on real lines mutated byte by byte, on strings built around its 64-byte blocks and
backslash runs, and on generated lines; and ``scan`` decodes the lines the transcript
prefilter keeps and counts the lines ``file_lines`` gives. The native ``plain`` gives None or
exactly what ``plain_response`` gives (types and time zone included), on every fixture line
and on generated lines around each of its conditions.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.raw import MAX_LINE_BYTES
from schemas.sources import pruned
from schemas.sources.claude_transcript import other_kind, plain_response
from schemas.sources.prefilter import prefilter_for
from spendstream.local_parse import file_lines

from .test_hostile_input import encode, json_objects, real_lines
from .test_prefilter import fixture_files

if not pruned.NATIVE:  # pragma: no cover - the install builds it (setup.py); CI must
    pytest.fail("schemas._pruned_json is not built: `pip install -e .` needs a C compiler", pytrace=False)

TRANSCRIPT_KEEPS = prefilter_for("claude-transcript")


def strictly_equal(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(strictly_equal(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check(line: bytes) -> bool:
    """The contract on one line; True when the native decoder accepted it."""
    got = pruned.load(line, 0, len(line))
    if got is None:
        return False
    try:
        full = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise AssertionError(f"accepted a line orjson refuses: {line[:300]!r}") from None
    assert type(full) is dict, line[:300]
    assert strictly_equal(got, pruned.prune(full)), line[:300]
    return True


def test_the_compiled_keys_are_the_documented_ones() -> None:
    assert pruned.native_spec() == (pruned.TOP_KEYS, pruned.MESSAGE_KEYS)


def test_every_fixture_line(real_fixtures: Path) -> None:
    accepted = 0
    for path in fixture_files(real_fixtures):
        for line in path.read_bytes().split(b"\n"):
            accepted += check(line)
            accepted += check(line + b"\r")
    assert accepted > 1000  # not vacuous: the common lines are decoded natively


def test_the_pruned_line_is_read_as_the_whole_line(real_fixtures: Path) -> None:
    """What the transcript's accounting reads of a line is in the pruned keys."""
    read = 0
    for path in fixture_files(real_fixtures):
        for line in path.read_bytes().split(b"\n"):
            got = pruned.load(line, 0, len(line))
            if got is None:
                continue
            full = orjson.loads(line)
            assert other_kind(got) == other_kind(full)
            assert plain_response(got) == plain_response(full)
            read += plain_response(full) is not None
    assert read > 300


def test_the_hostile_corpus() -> None:
    for line in real_lines():
        check(line)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(obj=json_objects)
def test_generated_objects(obj: dict[str, Any]) -> None:
    line = encode(obj)
    check(line)
    check(orjson.dumps(obj) if _orjson_can(obj) else line)


def _orjson_can(obj: Any) -> bool:
    try:
        orjson.dumps(obj)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("seed", range(30))
def test_real_lines_mutated_byte_by_byte(real_fixtures: Path, seed: int) -> None:
    rnd = random.Random(seed)
    path = real_fixtures / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
    lines = [line for line in path.read_bytes().split(b"\n") if b"usage" in line]
    alphabet = b'"\\{}[],:0123456789-+.eEtrufalsn /bfnrtu\x00\x1f\x7f\x80\xbf\xc2\xe0\xed\xf0\xf4\xff '
    try:
        for _ in range(150):
            line = bytearray(rnd.choice(lines))
            for _ in range(rnd.randint(1, 4)):
                at = rnd.randrange(len(line))
                action = rnd.random()
                if action < 0.4:
                    line[at] = rnd.choice(alphabet)
                elif action < 0.7:
                    line[at:at] = bytes([rnd.choice(alphabet)])
                else:
                    del line[at]
            check(bytes(line))
    except AssertionError:
        print(f"seed {seed}")
        raise


STRING_PIECES = ["a", "é", "€", "😀", "\\", '"', "\n", "\t", "\x01", "\x7f", "/", "u", "\\\\", "x" * 20]


@pytest.mark.parametrize("prefix", range(50, 72))
def test_backslash_runs_across_the_64_byte_blocks(prefix: int) -> None:
    """Escapes, backslash runs and quotes placed on each side of the block boundaries."""
    for run in range(1, 6):
        for after in ('"', "n", "u", "x", "\\", "/", "t"):
            raw = "a" * prefix + "\\" * run + after + "b" * 70
            for text in (raw, raw[:-70], raw[: prefix + run]):
                for line in (
                    f'{{"type":"assistant","sessionId":"{text}"}}',
                    f'{{"type":"assistant","other":"{text}","requestId":"r"}}',
                    f'{{"message":{{"model":"{text}","content":"{text}"}}}}',
                ):
                    check(line.encode("utf-8", "surrogatepass"))


@settings(max_examples=500)
@given(st.lists(st.sampled_from(STRING_PIECES), max_size=60), st.integers(0, 80), st.booleans())
def test_strings_of_escapes_text_and_control_characters(pieces: list[str], pad: int, kept: bool) -> None:
    text = "".join(pieces)
    key = "sessionId" if kept else "content"
    raw = "p" * pad
    check(f'{{"{key}":"{raw}{text}","type":"user"}}'.encode())
    check(('{"' + key + '":' + json.dumps(raw + text) + ',"type":"user"}').encode())
    check(('{"' + key + '":' + json.dumps(raw + text, ensure_ascii=False) + "}").encode())


@pytest.mark.parametrize(
    "line",
    [
        b"", b" ", b"{}", b"[]", b'"x"', b"1", b"{} {}", b"{}x", b"\xef\xbb\xbf{}", b'{"a":1e400}',
        b'{"a":1E2}', b'{"a":1.5}', b'{"type":1.5}', b'{"type":-0}', b'{"type":00}', b'{"type":-}',
        b'{"type":123456789012345678}', b'{"type":1234567890123456789}', b'{"a":' + b"1" * 30 + b"}",
        b'{"type":"\\ud800"}', b'{"type":"\xed\xa0\x80"}', b'{"type":"\xc0\xaf"}',
        b'{"type":"\xf4\x90\x80\x80"}', b'{"type":"a\x00"}', b'{"type":"\x7f"}', b'{"a":[1,]}', b'{"a":1,}',
        b'{,}', b'{"a" 1}', b'{"a":tru}', b'{"a":nul}', b'{"a":true,"a":false}', b'{"type":"x","type":"y"}',
        b'{"message":{"id":"a"},"message":"b"}', b'{"message":"b","message":{"id":"a","id":"c","x":1}}',
        b'{"message":{"usage":{"a":1,"a":2}}}', b"[" * 200 + b"]" * 200,
        b'{"a":' + b"[" * 127 + b"]" * 127 + b"}", b'{"a":' + b"[" * 128 + b"]" * 128 + b"}",
        b'{"type"\t:\r"assistant" }\r', b'{"typ\\u0065":"user"}', b'{"type\\n":"user"}', b'{"a":"\\q"}',
        b'{"isSidechain":true,"costUSD":null,"requestId":[1,{"b":false}]}',
    ],
)  # fmt: skip
def test_edge_cases(line: bytes) -> None:
    check(line)


def test_load_reads_only_its_slice() -> None:
    data = b'xx{"type":"user"}yy'
    assert pruned.load(data, 2, 17) == {"type": "user"}
    assert pruned.load(data, 2, 16) is None
    with pytest.raises(ValueError):
        pruned.load(data, 5, 100)


@pytest.mark.parametrize("seed", range(25))
def test_scan_keeps_what_the_prefilter_keeps_and_counts_the_lines(
    real_fixtures: Path, tmp_path: Path, seed: int
) -> None:
    assert pruned.native_scan is not None and TRANSCRIPT_KEEPS is not None
    rnd = random.Random(seed)
    path = real_fixtures / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
    pool = path.read_bytes().split(b"\n")
    edits = (
        lambda line: line,
        lambda line: line.replace(b'"usage"', b'"us\\u0061ge"', 1),
        lambda line: line.replace(b"assistant", b"\\u0061ssistant"),
        lambda line: line + b"\r",
        lambda line: line + b"\r\r",
        lambda line: b"",
        lambda line: b" \t\x0b\x0c\r",
        lambda line: b'{"type":"user","text":"usage and assistant"}',
        lambda line: line[: len(line) // 2],
        lambda line: line + b" " * 100,
    )
    lines = [rnd.choice(edits)(line) if rnd.random() < 0.3 else line for line in rnd.sample(pool, 120)]
    data = b"\n".join(lines).lstrip(b" \t\r\n\x0b\x0c") + rnd.choice([b"", b"\n", b"\n  "])
    file = tmp_path / "scan.jsonl"
    file.write_bytes(data)
    given_lines = [line for _, line in file_lines(file)]
    count, entries = pruned.native_scan(data, MAX_LINE_BYTES)
    try:
        assert count == len(given_lines)
        assert [data[start:end] for _, start, end, _ in entries] == [
            line for line in given_lines if TRANSCRIPT_KEEPS(line)
        ]
        for kind, start, end, obj in entries:
            line = data[start:end]
            if b"usage" in line and b"assistant" in line:
                assert kind in (pruned.CANDIDATE, pruned.PLAIN)
            else:
                assert kind == pruned.ESCAPED
            if kind == pruned.ESCAPED:
                assert obj is None
            elif kind == pruned.PLAIN:
                assert same_reading(obj, plain_response(orjson.loads(line)))
            elif obj is not None:
                assert strictly_equal(obj, pruned.prune(orjson.loads(line)))
                assert plain_response(obj) is None
    except AssertionError:
        print(f"seed {seed}")
        raise


def test_scan_declines_lines_longer_than_the_limit() -> None:
    assert pruned.native_scan is not None
    line = b'{"type":"assistant","message":{"usage":{}}}'
    decoded = {"type": "assistant", "message": {"usage": {}}}
    assert pruned.native_scan(line, len(line)) == (1, [(1, 0, len(line), decoded)])
    assert pruned.native_scan(line, len(line) - 1) == (1, [(1, 0, len(line), None)])


# --- the native plain_response ------------------------------------------------------------


def same_reading(got: Any, want: Any) -> bool:
    """Equal, element by element, types and time zones included."""
    if isinstance(want, datetime):
        return type(got) is datetime and got == want and got.tzinfo is want.tzinfo
    if type(want) is tuple:
        return type(got) is tuple and len(got) == len(want) and all(map(same_reading, got, want))
    return strictly_equal(got, want)


def check_plain(obj: dict[str, Any]) -> bool:
    """native_plain is None or plain_response; True when it read the line itself."""
    got = pruned.native_plain(obj)
    if got is None:
        return False
    want = plain_response(obj)
    assert want is not None and same_reading(got, want), (obj, got, want)
    return True


def test_the_native_reading_of_every_fixture_line(real_fixtures: Path) -> None:
    read = declined = 0
    for path in fixture_files(real_fixtures):
        for line in path.read_bytes().split(b"\n"):
            obj = pruned.load(line, 0, len(line))
            if obj is not None:
                if check_plain(obj):
                    read += 1
                elif plain_response(obj) is not None:
                    declined += 1
    assert read > 300 and declined == 0, (read, declined)


CANONICAL_STAMPS = [
    "2026-01-06T09:16:06.951Z", "2026-01-06T09:16:06Z", "2026-01-06T09:16:06.951123Z",
    "2024-02-29T23:59:59.999Z", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
]  # fmt: skip
OTHER_STAMPS = [
    "2026-01-06T09:16:06.95Z", "2026-01-06T09:16:06.951+00:00", "2026-01-06T09:16:06.951+02:00",
    "2026-01-06T09:16:06.951z", "2026-01-06 09:16:06.951Z", "2026-01-06T09:16:06.951",
    "2025-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-01-06T24:00:00.000Z",
    "2026-01-06T23:60:00.000Z", "2026-01-06T23:59:60.000Z",
    "0000-01-01T00:00:00.000Z", "2026-01-0xT09:16:06.951Z", "2026-01-06T09:16:06.9a1Z", "", "Z",
    "2026-01-06T09:16:06.951ZZ", "２０２６-01-06T09:16:06.951Z",
]  # fmt: skip
STAMPS = CANONICAL_STAMPS + OTHER_STAMPS
IDS = st.one_of(
    st.sampled_from(["s", "msg_1", "req_1", "", "a" * 512, "a" * 513, "é" * 512, "<synthetic>", "x/y"]),
    st.text(max_size=12),
    st.integers(-1, 1),
    st.none(),
    st.booleans(),
)
COUNTS = st.one_of(
    st.sampled_from([0, 1, 10**12, 10**12 + 1, -1, 2**63, None, True, False, 1.0, "1"]),
    st.integers(0, 10**6),
)
COUNT_KEYS = [
    "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "service_tier",
]  # fmt: skip
USAGES = st.fixed_dictionaries(
    {},
    optional={
        **{key: COUNTS for key in COUNT_KEYS},
        "cache_creation": st.one_of(
            st.none(),
            st.just([]),
            st.fixed_dictionaries(
                {}, optional={"ephemeral_5m_input_tokens": COUNTS, "ephemeral_1h_input_tokens": COUNTS}
            ),
        ),
        "server_tool_use": st.one_of(
            st.none(), st.just("x"), st.fixed_dictionaries({}, optional={"web_search_requests": COUNTS})
        ),
    },
)
READABLE = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["assistant", "assistant", "user", "Assistant"]),
        "message": st.one_of(
            st.fixed_dictionaries(
                {"usage": USAGES},
                optional={
                    "model": st.one_of(st.sampled_from(["claude-opus-4-5", "<synthetic>"]), IDS),
                    "id": IDS,
                },
            ),
            st.just("m"),
            st.none(),
        ),
        "sessionId": IDS,
        "timestamp": st.one_of(st.sampled_from(STAMPS), st.integers(), st.just("1" * 65)),
    },
    optional={
        "agentId": IDS,
        "isSidechain": st.one_of(st.booleans(), st.none(), st.integers(0, 1)),
        "requestId": IDS,
        "isApiErrorMessage": st.booleans(),
        "costUSD": st.one_of(st.none(), st.integers(0, 3)),
    },
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(obj=READABLE)
def test_the_native_reading_of_generated_lines(obj: dict[str, Any]) -> None:
    check_plain(obj)
    line = encode(obj)
    loaded = pruned.load(line, 0, len(line))
    if loaded is not None:
        check_plain(loaded)


@pytest.mark.parametrize("stamp", STAMPS)
def test_each_stamp_form(stamp: str) -> None:
    obj = {
        "type": "assistant",
        "message": {"usage": {"input_tokens": 3, "output_tokens": 4}, "model": "m", "id": "i"},
        "sessionId": "s",
        "timestamp": stamp,
    }
    assert check_plain(obj) == (stamp in CANONICAL_STAMPS), stamp
