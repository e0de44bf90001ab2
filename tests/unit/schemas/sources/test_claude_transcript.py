from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.sources import BadLine
from schemas.sources.claude_transcript import parse
from schemas.usage import TokenCounts

from ..support import PUBLISHED, context, fixture_lines, parse_stream, run, total_cost, total_tokens

FMT = "claude-transcript"
SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
EXPECTED = TokenCounts(
    input_tokens=2_016,
    output_tokens=64_185,
    cache_write_5m_tokens=622_125,
    cache_write_1h_tokens=0,
    cache_read_tokens=10_172_221,
)


@pytest.fixture(scope="module")
def lines(real_fixtures: Path) -> list[bytes]:
    return fixture_lines(real_fixtures / "claude-transcript" / f"{SESSION}.jsonl")


def assistant(**overrides: object) -> bytes:
    line: dict[str, object] = {
        "type": "assistant",
        "sessionId": "s-1",
        "requestId": "req_1",
        "timestamp": "2026-01-06T09:16:06.951Z",
        "message": {
            "id": "msg_1",
            "model": "claude-opus-4-5-20251101",
            "usage": {"input_tokens": 3, "output_tokens": 7, "cache_read_input_tokens": 11},
        },
    }
    line.update(overrides)
    return orjson.dumps(line)


def test_fixture_is_exactly_100_responses_with_the_published_totals(lines: list[bytes]) -> None:
    pairs = parse_stream(FMT, lines)
    assert len(lines) == 536 and len(pairs) == 326
    assert len({o.identity for o, _ in pairs}) == 100
    events = run(FMT, lines)
    assert total_tokens(events) == EXPECTED
    assert total_cost(events) == Decimal("10.58909675")
    assert {e.cost_source for e in events} == {"computed"}
    assert {e.session_id for e in events} == {SESSION}
    assert {e.model for e in events} == {"claude-opus-4-5-20251101"}


def test_fixture_neither_sums_lines_nor_keeps_first_lines(lines: list[bytes]) -> None:
    pairs = parse_stream(FMT, lines)
    naive = sum((o.tokens for o, _ in pairs), TokenCounts())
    assert (naive.output_tokens, naive.cache_write_5m_tokens, naive.cache_read_tokens) == (
        64_701,
        2_528_953,
        31_282_936,
    )
    first: dict[str, TokenCounts] = {}
    for o, _ in pairs:
        first.setdefault(o.identity, o.tokens)
    assert sum(first.values(), TokenCounts()).output_tokens == 541
    assert total_tokens(run(FMT, lines)).output_tokens == 64_185


def test_fixture_responses_are_named_by_session_and_message_id_alone(lines: list[bytes]) -> None:
    # the one line without requestId is a response like any other: stream-json has no
    # requestId, so (session, message.id) is the identity both views compute
    pairs = parse_stream(FMT, lines)
    identities = Counter(o.identity for o, _ in pairs)
    assert len(identities) == 100 and all(i.startswith(f"claude:{SESSION}:msg_") for i in identities)
    assert f"claude:{SESSION}:msg_012j4MRmrsuQprgm1wkt8qpv" in identities
    assert {o.group for o, _ in pairs} == {f"claude:{SESSION}"}


def test_event_time_is_the_line_timestamp(lines: list[bytes]) -> None:
    events = run(FMT, lines)
    assert min(e.event_time for e in events).isoformat() == "2026-01-06T09:16:06.951000+00:00"
    assert all(e.event_time != PUBLISHED for e in events)


@settings(max_examples=20, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 200))
def test_shuffled_and_duplicated_lines_give_the_same_totals(
    lines: list[bytes], rnd: random.Random, dupes: int
) -> None:
    shuffled = lines + [rnd.choice(lines) for _ in range(dupes)]
    rnd.shuffle(shuffled)
    events = run(FMT, shuffled)
    assert total_tokens(events) == EXPECTED
    assert total_cost(events) == Decimal("10.58909675")


def test_a_later_larger_line_of_a_response_is_a_correction() -> None:
    small = assistant()
    large = assistant(
        message={
            "id": "msg_1",
            "model": "claude-opus-4-5",
            "usage": {"input_tokens": 3, "output_tokens": 90, "cache_read_input_tokens": 11},
        }
    )
    events = run(FMT, [small, large, small])
    assert [e.tokens.output_tokens for e in events] == [7, 83]
    assert len({e.event_id for e in events}) == 2


def test_a_response_copied_into_a_resumed_session_keeping_its_session_id_counts_once() -> None:
    events = run(FMT, [assistant(sessionId="s-1"), assistant(sessionId="s-1", requestId="req_2")])
    assert len(events) == 1 and events[0].session_id == "s-1"


def test_a_response_copied_under_another_session_id_counts_again_a_known_limit() -> None:
    # the run group routes by session, so the identity must hold it (README, Known limits)
    events = run(FMT, [assistant(sessionId="s-1"), assistant(sessionId="s-2-forked")])
    assert [e.session_id for e in events] == ["s-1", "s-2-forked"]


def test_without_request_id_the_response_is_scoped_to_its_session() -> None:
    # gateways reuse message ids across sessions; without requestId they must not collapse
    events = run(
        FMT, [assistant(sessionId="s-1", requestId=None), assistant(sessionId="s-2", requestId=None)]
    )
    assert [e.session_id for e in events] == ["s-1", "s-2"]


def test_subagent_lines_are_a_child_scope_of_the_session() -> None:
    ctx = context(FMT, lineage=("fleet-run-7",))
    (o,), _ = parse(assistant(isSidechain=True, agentId="a3f9"), ctx, None)
    assert (o.session_id, o.lineage, o.agent_id) == ("s-1/agent-a3f9", ("fleet-run-7", "s-1"), "a3f9")
    (o,), _ = parse(assistant(isSidechain=True), ctx, None)
    assert (o.session_id, o.lineage, o.agent_id) == ("s-1/agent-sidechain", ("fleet-run-7", "s-1"), None)
    (o,), _ = parse(assistant(), context(FMT, lineage=("fleet-run-7", "s-1")), None)
    assert (o.session_id, o.lineage) == ("s-1", ("fleet-run-7",))


@pytest.mark.parametrize(
    "line",
    [
        assistant(isApiErrorMessage=True),
        assistant(
            message={"id": "m", "model": "<synthetic>", "usage": {"input_tokens": 0, "output_tokens": 0}}
        ),
        assistant(message={"id": "m", "model": "claude-opus-4-5"}),
        b'{"type":"user","message":{"role":"user","content":"hi"}}',
        b'{"type":"summary","summary":"x","leafUuid":"u"}',
        b'{"type":"file-history-snapshot","messageId":"m","snapshot":{}}',
        b'{"type":"system","subtype":"compact_boundary"}',
    ],
)
def test_lines_without_usage_are_valid_and_empty(line: bytes) -> None:
    assert parse(line, context(FMT), None) == ([], None)


def test_old_builds_line_cost_is_a_reported_cost() -> None:
    (event,) = run(FMT, [assistant(costUSD=0.0123)])
    assert (event.cost_usd, event.cost_source) == (Decimal("0.0123"), "reported")


def test_cache_writes_split_by_ttl() -> None:
    usage = {
        "input_tokens": 1,
        "output_tokens": 1,
        "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
    }
    (o,), _ = parse(
        assistant(message={"id": "m", "model": "claude-opus-4-5", "usage": usage}), context(FMT), None
    )
    assert (o.tokens.cache_write_5m_tokens, o.tokens.cache_write_1h_tokens) == (100, 200)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"message":{}}', "string 'type'"),
        (assistant(sessionId=None), "sessionId"),
        (assistant(message="SECRET"), "message must be an object"),
        (assistant(timestamp="SECRET"), "ISO-8601"),
        (assistant(timestamp="2026-01-06T09:16:06"), "timezone"),
        (assistant(message={"id": "m", "usage": {"output_tokens": -1}}), "output_tokens"),
        (assistant(message={"id": "m", "usage": {"output_tokens": 1.5}}), "output_tokens"),
        (assistant(costUSD="SECRET"), "costUSD"),
    ],
)
def test_bad_lines_name_the_problem_without_quoting_content(line: bytes, reason: str) -> None:
    with pytest.raises(BadLine, match=reason) as caught:
        parse(line, context(FMT), None)
    assert "SECRET" not in caught.value.reason
