from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.money import ZERO_USD
from schemas.sources import BadLine
from schemas.sources.codex_json import parse
from schemas.usage import TokenCounts

from ..support import account, context, fixture_lines, parse_stream, run, total_cost, total_tokens

FMT = "codex-json"
# SOURCES.md: input_tokens (includes cached), cached_input_tokens, output_tokens
EXEC_TOTALS = {
    "failed_command": (15_086, 14_080, 114),
    "file_change": (22_857, 20_736, 250),
    "file_create": (15_115, 13_184, 137),
    "hello_world": (7_464, 6_528, 25),
    "list_files": (15_562, 13_184, 599),
    "multi_command": (30_669, 28_288, 205),
}


@pytest.mark.parametrize("name", sorted(EXEC_TOTALS))
def test_exec_fixtures_exact_totals(real_fixtures: Path, name: str) -> None:
    lines = fixture_lines(real_fixtures / "codex-exec-json" / f"{name}.jsonl")
    events = run(FMT, lines)
    input_tokens, cached, output = EXEC_TOTALS[name]
    assert total_tokens(events) == TokenCounts(
        input_tokens=input_tokens - cached, cache_read_tokens=cached, output_tokens=output
    )
    thread = orjson.loads(lines[0])["thread_id"]
    assert {e.session_id for e in events} == {thread}
    assert {(e.cost_usd, e.cost_source, e.model) for e in events} == {(ZERO_USD, "unpriced", None)}


@pytest.mark.parametrize("name", sorted(EXEC_TOTALS))
def test_exec_fixtures_priced_by_the_runner_model_label(real_fixtures: Path, name: str) -> None:
    lines = fixture_lines(real_fixtures / "codex-exec-json" / f"{name}.jsonl")
    events = run(FMT, lines, labels={"model": "gpt-5-codex"})
    input_tokens, cached, output = EXEC_TOTALS[name]
    expected = (Decimal("1.25") * (input_tokens - cached) + Decimal("0.125") * cached + 10 * output) / 10**6
    assert total_cost(events) == expected
    assert {(e.cost_source, e.model) for e in events} == {("computed", "gpt-5-codex")}


def test_hello_world_costs_exactly(real_fixtures: Path) -> None:
    lines = fixture_lines(real_fixtures / "codex-exec-json" / "hello_world.jsonl")
    assert total_cost(run(FMT, lines, labels={"model": "gpt-5-codex"})) == Decimal("0.002236")


def test_republished_turn_completed_counts_once(real_fixtures: Path) -> None:
    lines = fixture_lines(real_fixtures / "codex-exec-json" / "hello_world.jsonl")
    assert total_tokens(run(FMT, [*lines, lines[-1], lines[-1]])) == total_tokens(run(FMT, lines))


def turn(input_tokens: int, cached: int, output: int) -> bytes:
    usage = {"input_tokens": input_tokens, "cached_input_tokens": cached, "output_tokens": output}
    return orjson.dumps({"type": "turn.completed", "usage": usage})


STARTED = b'{"type":"thread.started","thread_id":"th-1"}'


def test_a_resumed_thread_reports_cumulative_usage_and_adds_only_its_growth() -> None:
    # codex exec resume: the second run's turn.completed includes the first run's usage
    first = parse_stream(FMT, [STARTED, turn(1000, 800, 10)], stream="run-1")
    second = parse_stream(FMT, [STARTED, turn(2500, 2000, 30)], stream="run-2")
    events = account([*first, *second])
    assert [e.tokens for e in events] == [
        TokenCounts(input_tokens=200, cache_read_tokens=800, output_tokens=10),
        TokenCounts(input_tokens=300, cache_read_tokens=1200, output_tokens=20),
    ]


def rollout(*totals: tuple[int, int, int, int] | None, model: str = "gpt-5-codex") -> list[bytes]:
    lines = [
        b'{"timestamp":"2025-11-01T10:00:00.000Z","type":"session_meta","payload":{"id":"th-1","cwd":"/w"}}',
        orjson.dumps(
            {"timestamp": "2025-11-01T10:00:01.000Z", "type": "turn_context", "payload": {"model": model}}
        ),
        b'{"timestamp":"2025-11-01T10:00:02.000Z","type":"event_msg","payload":{"type":"token_count","info":null}}',
    ]
    for i, t in enumerate(totals):
        if t is None:
            lines.append(
                b'{"timestamp":"2025-11-01T10:00:03.000Z","type":"response_item","payload":{"type":"message"}}'
            )
            continue
        usage = dict(
            zip(
                ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens"),
                t,
                strict=True,
            )
        )
        info = {"total_token_usage": usage, "last_token_usage": usage, "model_context_window": 272000}
        lines.append(
            orjson.dumps(
                {
                    "timestamp": f"2025-11-01T10:01:{i:02d}.000Z",
                    "type": "event_msg",
                    "payload": {"type": "token_count", "info": info, "rate_limits": {}},
                }
            )
        )
    return lines


CUMULATIVE = [(1000, 800, 50, 20), (1000, 800, 50, 20), None, (3000, 2600, 90, 40), (6000, 5000, 200, 100)]
FINAL = TokenCounts(input_tokens=1000, cache_read_tokens=5000, output_tokens=200, reasoning_tokens=100)


def test_rollout_cumulative_totals_become_deltas_summing_to_the_final_total() -> None:
    events = run(FMT, rollout(*CUMULATIVE))
    assert [e.tokens.output_tokens for e in events] == [50, 40, 110]
    assert total_tokens(events) == FINAL
    assert {(e.session_id, e.model, e.cost_source) for e in events} == {("th-1", "gpt-5-codex", "computed")}
    assert events[0].event_time.isoformat() == "2025-11-01T10:01:00+00:00"
    # priced per delta, exact: equal to pricing the final total once
    assert total_cost(events) == (Decimal("1.25") * 1000 + Decimal("0.125") * 5000 + 10 * 200) / 10**6


@given(st.randoms(use_true_random=False))
def test_rollout_token_counts_in_any_order_converge(rnd: random.Random) -> None:
    lines = rollout(*CUMULATIVE)
    head, counts = lines[:2], lines[2:] * 2
    rnd.shuffle(counts)
    assert total_tokens(run(FMT, head + counts)) == FINAL


def test_exec_output_and_rollout_of_the_same_thread_count_once() -> None:
    exec_run = parse_stream(FMT, [STARTED, turn(6000, 5000, 200)], stream="exec")
    rollout_run = parse_stream(FMT, rollout(*CUMULATIVE), stream="rollout")
    assert total_tokens(account([*exec_run, *rollout_run])) == FINAL


def test_without_thread_started_the_stream_is_the_identity() -> None:
    (o,), state = parse(turn(10, 5, 1), context(FMT, stream="codex-run-9", session_hint="task-9"), None)
    assert (o.identity, o.session_id, state) == ("codex:stream:codex-run-9", "task-9", {})


def test_parser_state_is_plain_json() -> None:
    state = None
    for position, line in enumerate(rollout(), 1):
        _, state = parse(line, context(FMT, position), state)
    assert orjson.loads(orjson.dumps(state)) == {"session": "th-1", "model": "gpt-5-codex"}
    # a garbled stored state is ignored, not trusted
    (o,), _ = parse(turn(2, 1, 1), context(FMT), {"session": 5, "other": "x"})
    assert o.identity == "codex:stream:stream-1"


def test_an_unusable_model_label_is_a_bad_line() -> None:
    with pytest.raises(BadLine, match="model must be"):
        parse(turn(2, 1, 1), context(FMT, labels={"model": "m" * 600}), None)


def test_reasoning_is_inside_output_never_added() -> None:
    usage = {"input_tokens": 10, "cached_input_tokens": 0, "output_tokens": 5, "reasoning_output_tokens": 9}
    (o,), _ = parse(orjson.dumps({"type": "turn.completed", "usage": usage}), context(FMT), None)
    assert (o.tokens.output_tokens, o.tokens.reasoning_tokens) == (5, 5)


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"turn.started"}',
        b'{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"x"}}',
        b'{"type":"turn.failed","error":{"message":"x"}}',
        b'{"type":"error","message":"x"}',
        b'{"id":"legacy","timestamp":"2025-08-01T00:00:00Z","instructions":null}',
        b'{"record_type":"state"}',
        b'{"type":"event_msg","payload":{"type":"agent_message","message":"x"}}',
    ],
)
def test_lines_without_usage_are_valid_and_empty(line: bytes) -> None:
    observations, _ = parse(line, context(FMT), None)
    assert observations == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (turn(10, 11, 1), "cached_input_tokens exceeds input_tokens"),
        (b'{"type":"turn.completed"}', "missing usage"),
        (b'{"type":"turn.completed","usage":{"input_tokens":"SECRET"}}', "input_tokens"),
        (b'{"type":"thread.started"}', "thread_id"),
        (b'{"type":["SECRET"]}', "must be a string"),
        (b'{"type":"event_msg","payload":{"type":"token_count","info":{}}}', "total_token_usage"),
        (b'{"type":"event_msg","payload":"SECRET"}', "payload"),
        (b'{"type":"session_meta","payload":{"id":7}}', "id"),
    ],
)
def test_bad_lines(line: bytes, reason: str) -> None:
    with pytest.raises(BadLine, match=reason) as caught:
        parse(line, context(FMT), None)
    assert "SECRET" not in caught.value.reason
