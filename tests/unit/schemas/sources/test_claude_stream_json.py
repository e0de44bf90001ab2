from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.sources import BadLine
from schemas.sources.claude_stream_json import parse
from schemas.usage import TokenCounts

from ..support import account, context, fixture_lines, parse_stream, run, total_cost, total_tokens

FMT = "claude-stream-json"
SESSION = "08cd4ce5-1ce0-4dd4-8e7c-8b69712c514e"


def assistant(
    message_id: str, output: int, *, parent: str | None = None, model: str = "claude-sonnet-4-5"
) -> bytes:
    return orjson.dumps(
        {
            "type": "assistant",
            "session_id": "s-1",
            "parent_tool_use_id": parent,
            "message": {
                "id": message_id,
                "model": model,
                "usage": {"input_tokens": 4, "output_tokens": output, "cache_read_input_tokens": 1000},
            },
        }
    )


def result(
    *, output: int, input_tokens: int = 8, cache_read: int = 2000, cost: float = 0.05, uuid: str = "r-1"
) -> bytes:
    return orjson.dumps(
        {
            "type": "result",
            "subtype": "success",
            "session_id": "s-1",
            "uuid": uuid,
            "total_cost_usd": cost,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output,
                "cache_read_input_tokens": cache_read,
            },
        }
    )


# one message repeated per content block (output snapshot lagging), a subagent message, the result
RUN = [
    b'{"type":"system","subtype":"init","session_id":"s-1","model":"claude-sonnet-4-5"}',
    assistant("msg_a", 2),
    assistant("msg_a", 2),
    b'{"type":"user","session_id":"s-1","message":{"role":"user","content":[]}}',
    assistant("msg_b", 1, parent="toolu_9"),
    result(output=500, input_tokens=8, cache_read=2000),
]
RUN_TOTAL = TokenCounts(input_tokens=8, output_tokens=500, cache_read_tokens=2000)


def test_fixture_subagent_message(real_fixtures: Path) -> None:
    (event,) = run(FMT, fixture_lines(real_fixtures / "claude-stream-json" / "assistant-with-usage.jsonl"))
    assert event.tokens == TokenCounts(
        input_tokens=5, output_tokens=250, cache_write_5m_tokens=609, cache_read_tokens=46_428
    )
    assert event.model == "claude-haiku-4-5-20251001"
    assert event.session_id == f"{SESSION}/agent-toolu_012hZhNyfdf6Y156ryHJSbxd"
    assert event.lineage == (SESSION,) and event.agent_id == "toolu_012hZhNyfdf6Y156ryHJSbxd"
    # Haiku 4.5 list prices: 5*$1 + 250*$5 + 609*$1.25 + 46,428*$0.10 per million
    assert (event.cost_usd, event.cost_source) == (Decimal("0.00665905"), "computed")


def test_stream_and_result_never_double_count() -> None:
    events = run(FMT, RUN)
    assert total_tokens(events) == RUN_TOTAL
    assert total_cost(events) == Decimal("0.05")  # the result's reported cost exceeds the parts'
    # the messages came first; the result contributed only the rest, to the session scope
    assert events[-1].session_id == "s-1" and events[-1].tokens.output_tokens == 497


@given(st.randoms(use_true_random=False), st.lists(st.integers(0, len(RUN) - 1), max_size=10))
def test_any_order_with_duplicates_and_repeated_results(rnd: random.Random, dupes: list[int]) -> None:
    lines = RUN + [RUN[i] for i in dupes] + [result(output=500, uuid="r-1")]
    rnd.shuffle(lines)
    events = run(FMT, lines)
    assert total_tokens(events) == RUN_TOTAL
    assert total_cost(events) == Decimal("0.05")


def test_results_restating_the_process_total_each_turn_count_once() -> None:
    # --input-format stream-json: one process, one result per turn, each cumulative
    turns = [
        assistant("msg_a", 2),
        result(output=300, uuid="r-1"),
        assistant("msg_c", 1),
        result(output=500, uuid="r-2"),
    ]
    assert total_tokens(run(FMT, turns)) == RUN_TOTAL


def test_a_resumed_process_adds_its_own_spend() -> None:
    # --resume: a new process (a new stream) whose counters restart under the same session
    first = parse_stream(FMT, RUN, stream="process-1")
    resumed = parse_stream(
        FMT,
        [assistant("msg_c", 3), result(output=100, input_tokens=2, cost=0.01, uuid="r-9")],
        stream="process-2",
    )
    events = account([*first, *resumed, *first])
    # process 2 counts max(its message, its result) per field: input 4 from the message
    assert total_tokens(events) == RUN_TOTAL + TokenCounts(
        input_tokens=4, output_tokens=100, cache_read_tokens=2000
    )
    assert total_cost(events) == Decimal("0.06")


def test_parts_above_the_result_are_kept_per_field() -> None:
    # a result whose usage leaves out subagents: messages exceed it on output
    events = run(
        FMT,
        [assistant("msg_a", 300), assistant("msg_b", 300, parent="toolu_1"), result(output=500, cost=0.0)],
    )
    assert total_tokens(events).output_tokens == 600
    assert total_tokens(events).cache_read_tokens == 2000


def test_result_with_model_usage_sums_models_and_names_a_single_model() -> None:
    line = orjson.dumps(
        {
            "type": "result",
            "session_id": "s-1",
            "total_cost_usd": 0.5,
            "modelUsage": {
                "claude-haiku-4-5": {"inputTokens": 1, "outputTokens": 2, "costUSD": 0.1},
                "claude-opus-4-5": {
                    "inputTokens": 10,
                    "outputTokens": 20,
                    "cacheCreationInputTokens": 5,
                    "costUSD": 0.4,
                },
            },
        }
    )
    (o,), _ = parse(line, context(FMT), None)
    assert o.tokens == TokenCounts(input_tokens=11, output_tokens=22, cache_write_5m_tokens=5)
    assert (o.model, o.reported_cost_usd, o.is_group_total, o.group) == (
        None,
        Decimal("0.5"),
        True,
        "claude:s-1",
    )
    assert o.identity == f"{FMT}:s-1:result@stream:stream-1"


def test_claude_json_fixture_is_also_a_valid_stream_result(real_fixtures: Path) -> None:
    (line,) = fixture_lines(real_fixtures / "claude-json" / "result-success.json")
    (event,) = run(FMT, [line])
    assert event.tokens == TokenCounts(
        input_tokens=4, output_tokens=18, cache_write_5m_tokens=3548, cache_read_tokens=11_459
    )
    assert (event.cost_usd, event.cost_source) == (Decimal("0.0856259"), "reported")


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"system","subtype":"init","session_id":"s-1"}',
        b'{"type":"user","session_id":"s-1","message":{}}',
        b'{"type":"stream_event","session_id":"s-1","event":{"type":"message_delta","usage":{"output_tokens":9}}}',
        orjson.dumps(
            {
                "type": "assistant",
                "session_id": "s-1",
                "message": {"id": "m", "model": "<synthetic>", "usage": {}},
            }
        ),
    ],
)
def test_lines_without_usage_are_valid_and_empty(line: bytes) -> None:
    assert parse(line, context(FMT), None) == ([], None)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"type":7}', "string 'type'"),
        (b'{"type":"assistant","message":{}}', "session_id"),
        (b'{"type":"result","session_id":"s"}', "neither modelUsage nor usage"),
        (b'{"type":"result","session_id":"s","usage":{},"total_cost_usd":"SECRET"}', "total_cost_usd"),
        (b'{"type":"result","session_id":"s","usage":{},"total_cost_usd":-1}', "total_cost_usd"),
        (b'{"type":"result","session_id":"s","modelUsage":{"m":"SECRET"}}', "modelUsage"),
    ],
)
def test_bad_lines(line: bytes, reason: str) -> None:
    with pytest.raises(BadLine, match=reason) as caught:
        parse(line, context(FMT), None)
    assert "SECRET" not in caught.value.reason


INIT = b'{"type":"system","subtype":"init","session_id":"s-1","uuid":"init-1","model":"claude-sonnet-4-5"}'


def test_two_producers_of_one_stdout_name_the_same_process_by_its_init_line() -> None:
    # `run` streams the stdout live, a later `publish` sends a saved copy: two streams
    lines = [INIT, *RUN[1:]]
    live = parse_stream(FMT, lines, stream="run:stdout")
    saved = parse_stream(FMT, lines, stream="publish:/logs/run.jsonl")
    results = {o.identity for o, _ in live + saved if o.is_group_total}
    assert results == {f"{FMT}:s-1:result@init:init-1"}
    for order in ([*live, *saved], [*saved, *live]):
        events = account(order)
        assert (total_tokens(events), total_cost(events)) == (RUN_TOTAL, Decimal("0.05"))


def test_a_stream_without_an_init_line_is_its_own_process() -> None:
    (o,), _ = parse(result(output=5), context(FMT, stream="tail-only"), None)
    assert o.identity == f"{FMT}:s-1:result@stream:tail-only"
    # the first init line names the process; a later one does not rename it
    _, state = parse(INIT, context(FMT), None)
    _, state = parse(INIT.replace(b"init-1", b"init-2"), context(FMT), state)
    (o,), _ = parse(result(output=5), context(FMT), state)
    assert o.identity == f"{FMT}:s-1:result@init:init-1"
