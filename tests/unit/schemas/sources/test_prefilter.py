"""The prefilter skips no line that carries usage, for every supported format.

For every format of ``PARSERS`` and every line of every fixture (real captures and
tests/fixtures), of the hostile corpus of test_hostile_input.py and of transcript lines with
random ``\\uXXXX`` escapes: when the parser yields an observation or changes its state, the
format has no prefilter or the prefilter keeps the line.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.sources import PARSERS, BadLine
from schemas.sources.claude_transcript import FORMAT as TRANSCRIPT
from schemas.sources.claude_transcript import parse as parse_transcript
from schemas.sources.prefilter import prefilter_for
from spendstream.local_parse import file_lines

from ..support import context
from .escaping import dumps_escaped
from .test_hostile_input import encode, json_objects, real_lines

FORMATS = sorted(PARSERS)
LOCAL_FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


def fixture_files(real: Path) -> list[Path]:
    files = [*sorted(real.rglob("*.json*")), *sorted(LOCAL_FIXTURES.rglob("*.json*"))]
    assert len(files) >= 14
    return files


def kept_if_it_counts(fmt: str, line: bytes, state: Any = None) -> tuple[Any, bool]:
    """Parse ``line``; assert that if it yields usage or changes the state, the prefilter
    keeps it. Returns the state after the line and whether it yielded an observation."""
    try:
        observations, new_state = PARSERS[fmt](line, context(fmt), state)
    except BadLine:
        return state, False
    if observations or new_state != state:
        may_carry = prefilter_for(fmt)
        assert may_carry is None or may_carry(line), (fmt, line[:200])
    return new_state, bool(observations)


def test_only_transcripts_have_a_prefilter() -> None:
    assert [fmt for fmt in FORMATS if prefilter_for(fmt) is not None] == [TRANSCRIPT]


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_fixture_line_that_counts_is_skipped(fmt: str, real_fixtures: Path) -> None:
    counted = 0
    for path in fixture_files(real_fixtures):
        state: Any = None
        for _position, line in file_lines(path):
            state, used = kept_if_it_counts(fmt, line, state)
            counted += used
    # Every format finds usage in its own fixtures, so the check is not vacuous.
    assert counted > 0


def test_the_transcript_prefilter_skips_most_fixture_lines(real_fixtures: Path) -> None:
    path = real_fixtures / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
    may_carry = prefilter_for(TRANSCRIPT)
    assert may_carry is not None
    lines = [line for _position, line in file_lines(path)]
    kept = [line for line in lines if may_carry(line)]
    assert (len(lines), len(kept)) == (536, 346)  # 20 kept by a \\u escape or the words in text
    assert sum(bool(parse_transcript(line, context(TRANSCRIPT), None)[0]) for line in kept) == 326


@pytest.mark.parametrize("fmt", FORMATS)
@given(obj=json_objects)
@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
def test_no_hostile_json_line_that_counts_is_skipped(fmt: str, obj: dict[str, Any]) -> None:
    kept_if_it_counts(fmt, encode(obj))


@pytest.mark.parametrize("fmt", FORMATS)
@given(st.lists(st.sampled_from(real_lines()) | json_objects.map(encode), max_size=8))
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
def test_no_line_that_changes_state_is_skipped(fmt: str, lines: list[bytes]) -> None:
    state: Any = None
    for line in lines:
        state, _used = kept_if_it_counts(fmt, line, state)


USAGE = {"input_tokens": 3, "output_tokens": 7}
BASE = {
    "type": "assistant",
    "sessionId": "s-1",
    "message": {"id": "m", "model": "claude-opus-4-5", "usage": USAGE},
}
ESCAPED_KEYS = [
    b'{"type":"assistant","sessionId":"s-1","message":{"id":"m","us\\u0061ge":{"input_tokens":3}}}',
    b'{"type":"\\u0061ssistant","sessionId":"s-1","message":{"id":"m","usage":{"input_tokens":3}}}',
    b'{"type":"assist\\u0061nt","sessionId":"s-1","message":{"id":"m","usage":{"input_tokens":3}}}',
    b'{"\\u0074ype":"\\u0061ssistant","sessionId":"s-1","message":{"id":"m","\\u0075\\u0073age":{}}}',
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("line", ESCAPED_KEYS)
def test_escaped_keys_are_kept(fmt: str, line: bytes) -> None:
    kept_if_it_counts(fmt, line)
    may_carry = prefilter_for(TRANSCRIPT)
    assert may_carry is not None and may_carry(line)


def test_escaped_keys_do_carry_usage_in_a_transcript() -> None:
    counted = [bool(parse_transcript(line, context(TRANSCRIPT), None)[0]) for line in ESCAPED_KEYS]
    assert counted == [True, True, True, True]  # the last one: an empty usage, zero counts


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (orjson.dumps(BASE), True),
        (b'{"type":"user","message":{"role":"user","content":"usage"}}', False),
        (b'{"type":"user","message":{"role":"user","content":"what the assistant said about usage"}}', True),
        (b'{"type":"assistant","sessionId":"s-1","message":{"id":"m","content":"no counts"}}', False),
        (b'{"type":"summary","summary":"usage"}', False),
        (b'{"type":"system","content":"\\u00e9"}', True),
        (b"", False),
    ],
)
def test_transcript_prefilter_decisions(line: bytes, kept: bool) -> None:
    may_carry = prefilter_for(TRANSCRIPT)
    assert may_carry is not None and may_carry(line) is kept


def test_the_words_inside_strings_do_not_make_a_line_count() -> None:
    line = b'{"type":"user","message":{"content":"assistant usage"}}'
    assert parse_transcript(line, context(TRANSCRIPT), None) == ([], None)


# --- transcript assistant lines with random escapes -------------------------------------

counts = st.one_of(st.none(), st.integers(0, 10**6), st.sampled_from([10**12, -1, 1.5, "3"]))
usages = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": counts,
        "output_tokens": counts,
        "cache_read_input_tokens": counts,
        "cache_creation_input_tokens": counts,
        "cache_creation": st.none()
        | st.fixed_dictionaries(
            {}, optional={"ephemeral_5m_input_tokens": counts, "ephemeral_1h_input_tokens": counts}
        ),
        "server_tool_use": st.none() | st.fixed_dictionaries({}, optional={"web_search_requests": counts}),
    },
)
texts = st.one_of(
    st.none(), st.just(""), st.text(max_size=12), st.sampled_from(["s-1", "msg_01ab", "é—ü", "\U0001f600"])
)
messages = st.fixed_dictionaries(
    {"usage": st.none() | usages},
    optional={
        "id": texts,
        "model": st.sampled_from(["claude-opus-4-5-20251101", "<synthetic>", "", "claude-haiku-4-5"]) | texts,
        "content": st.sampled_from(["usage", "assistant", "", "\u00e9"]),
    },
)
assistant_lines = st.fixed_dictionaries(
    {"type": st.sampled_from(["assistant", "assistant", "user", "system"]), "message": messages},
    optional={
        "sessionId": texts,
        "requestId": texts,
        "agentId": texts,
        "isSidechain": st.booleans(),
        "uuid": texts,
        "timestamp": st.sampled_from(
            ["2026-01-06T09:16:06.951Z", "2026-01-06T09:16:06+05:30", "2026-01-06T09:16:06", "garbage"]
        ),
        "costUSD": st.none() | st.sampled_from([0.01, "x"]),
        "isApiErrorMessage": st.none() | st.booleans(),
    },
)


@given(obj=assistant_lines, seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.0, 0.02, 0.2, 1.0]))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_randomly_escaped_transcript_lines_that_count_are_kept(
    obj: dict[str, Any], seed: int, rate: float
) -> None:
    plain = dumps_escaped(obj, random.Random(seed), 0.0)
    escaped = dumps_escaped(obj, random.Random(seed), rate)
    assert orjson.loads(escaped) == orjson.loads(plain)
    for line in (plain, escaped):
        for fmt in FORMATS:
            kept_if_it_counts(fmt, line)
    # The escapes change nothing the parser makes of the line.
    ctx = context(TRANSCRIPT)
    try:
        expected: Any = parse_transcript(plain, ctx, None)
    except BadLine as exc:
        expected = exc.reason
    try:
        got: Any = parse_transcript(escaped, ctx, None)
    except BadLine as exc:
        got = exc.reason
    if isinstance(expected, str) and isinstance(got, str):
        return  # both bad; a reason may quote a character position, which escapes move
    assert got == expected
