"""Cross-view reconciliation: a Claude run's ``claude -p`` result, stream-json messages and
transcript lines are views of one run and count it once (schemas/sources/claude_run.py).

The run is the real transcript fixture under a new session id, with a made-up result of
the same totals and stream-json lines made from it (tests/fixtures/claude-crossview/).
"""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.ledger import MemoryLedger
from schemas.sources import LineContext, Observation
from schemas.usage import TokenCounts
from spendstream.local_parse import parse_paths
from tests.fixtures.claude_crossview import HERE, SESSION, transcript_lines

from ..support import account, parse_stream, run, total_cost, total_tokens

OPUS = "claude-opus-4-5-20251101"
HAIKU = "claude-haiku-4-5-20251001"
RUN_TOKENS = TokenCounts(
    input_tokens=2_016,
    output_tokens=64_185,
    cache_write_5m_tokens=622_125,
    cache_read_tokens=10_172_221,
)
RUN_COST = Decimal("10.58909675")
Pairs = list[tuple[Observation, LineContext]]


@pytest.fixture(scope="module")
def views(real_fixtures: Path) -> dict[str, tuple[str, list[bytes]]]:
    """Each view of the run: its format and lines."""
    return {
        "transcript": ("claude-transcript", transcript_lines(real_fixtures)),
        "result": ("claude-json", (HERE / "result.json").read_bytes().splitlines()),
        "stream": ("claude-stream-json", (HERE / "stream.jsonl").read_bytes().splitlines()),
    }


def observed(views: dict[str, tuple[str, list[bytes]]], view: str, producer: str) -> Pairs:
    """``view`` as producer ``producer`` publishes it: its own stream id, runner, positions."""
    fmt, lines = views[view]
    return parse_stream(fmt, lines, stream=f"{producer}:{view}")


def interleave(rnd: random.Random, sequences: list[Pairs]) -> Pairs:
    """A random merge of ``sequences``, each kept in its own order (one stream is ordered)."""
    queues = [list(s) for s in sequences if s]
    merged: Pairs = []
    while queues:
        queue = rnd.choice(queues)
        merged.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return merged


def assert_counted_once(pairs: Pairs) -> None:
    events = account(pairs)
    assert total_tokens(events) == RUN_TOKENS
    assert total_cost(events) == RUN_COST
    assert {e.root_id for e in events} == {SESSION}


def test_each_view_alone_is_the_run(views: dict[str, tuple[str, list[bytes]]]) -> None:
    for view in views:
        assert_counted_once(observed(views, view, "host-a"))


@pytest.mark.parametrize("combination", ["transcript+result", "transcript+stream", "result+stream", "all"])
def test_every_combination_from_two_producers_in_every_order_counts_once(
    views: dict[str, tuple[str, list[bytes]]], combination: str
) -> None:
    names = list(views) if combination == "all" else combination.split("+")
    # each view from two producers (run on one host, watch/publish on another)
    blocks = [observed(views, view, host) for view in names for host in ("host-a", "host-b")]
    # every order of the blocks for two views; for three, every order of the views (each
    # view's two producers together, in both orders)
    if len(blocks) <= 4:
        orders = list(itertools.permutations(range(len(blocks))))
    else:
        orders = [
            tuple(i for v in views_order for i in ((2 * v, 2 * v + 1) if flip else (2 * v + 1, 2 * v)))
            for views_order in itertools.permutations(range(3))
            for flip in (True, False)
        ]
    for order in orders:
        assert_counted_once([pair for i in order for pair in blocks[i]])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.randoms(use_true_random=False),
    st.sets(st.sampled_from(["transcript", "result", "stream"]), min_size=1),
    st.sets(st.sampled_from(["host-a", "host-b"]), min_size=1),
)
def test_any_interleaving_of_the_views_counts_the_run_once(
    views: dict[str, tuple[str, list[bytes]]], rnd: random.Random, names: set[str], hosts: set[str]
) -> None:
    sequences = [observed(views, view, host) for view in sorted(names) for host in sorted(hosts)]
    assert_counted_once(interleave(rnd, sequences))


def test_the_result_excess_is_attributed_to_the_result(views: dict[str, tuple[str, list[bytes]]]) -> None:
    # the result first: it counts the run; the messages then add nothing
    events = account([*observed(views, "result", "a"), *observed(views, "transcript", "a")])
    assert len(events) == 1 and events[0].source == "claude-json" and events[0].model == OPUS
    # the messages first: the result adds only its reported cost over the computed one (none)
    events = account([*observed(views, "transcript", "a"), *observed(views, "result", "a")])
    assert all(e.source == "claude-transcript" for e in events)


def test_parse_of_the_three_files_counts_the_run_once(
    views: dict[str, tuple[str, list[bytes]]], tmp_path: Path
) -> None:
    paths = []
    for view, (_fmt, lines) in views.items():
        path = tmp_path / f"{view}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        paths.append(path)
    summary, unreadable = parse_paths(paths, "auto", MemoryLedger(), "runner-1")
    assert not unreadable
    assert (summary.total().tokens, summary.total().cost_usd) == (RUN_TOKENS, RUN_COST)


# --- the rule on small runs ---------------------------------------------------------------


def message(fmt: str, message_id: str, output: int, *, model: str = OPUS, agent: str | None = None) -> bytes:
    usage = {"input_tokens": 3, "output_tokens": output, "cache_read_input_tokens": 100}
    body = {"id": message_id, "model": model, "usage": usage}
    if fmt == "claude-transcript":
        line: dict[str, object] = {"type": "assistant", "sessionId": "s-1", "requestId": f"req-{message_id}"}
        if agent is not None:
            line |= {"agentId": agent, "isSidechain": True}
    else:
        line = {"type": "assistant", "session_id": "s-1", "parent_tool_use_id": agent and f"toolu_{agent}"}
    return orjson.dumps(line | {"message": body})


def result(uuid: str, per_model: dict[str, tuple[int, float]] | None, *, output: int = 0) -> bytes:
    """A claude -p result: per model (output tokens, cost), or, without, ``usage`` only."""
    body: dict[str, object] = {"type": "result", "session_id": "s-1", "uuid": uuid}
    if per_model is None:
        body |= {"usage": {"input_tokens": 6, "output_tokens": output, "cache_read_input_tokens": 200}}
        return orjson.dumps(body | {"total_cost_usd": 0.5})
    body["modelUsage"] = {
        model: {"inputTokens": 3, "outputTokens": out, "cacheReadInputTokens": 100, "costUSD": cost}
        for model, (out, cost) in per_model.items()
    }
    return orjson.dumps(body)


def output_of(events: list) -> int:  # type: ignore[type-arg]
    return total_tokens(events).output_tokens


def test_subagent_files_belong_to_the_parent_sessions_run() -> None:
    transcript = [message("claude-transcript", "m1", 50), message("claude-transcript", "m2", 30, agent="ab")]
    stream = [message("claude-stream-json", "m1", 40), message("claude-stream-json", "m2", 30, agent="ab")]
    pairs = [
        *parse_stream("claude-transcript", transcript[:1], stream="main.jsonl"),
        *parse_stream("claude-transcript", transcript[1:], stream="subagents/agent-ab.jsonl"),
        *parse_stream("claude-stream-json", stream, stream="run-stdout"),
    ]
    assert {o.group for o, _ in pairs} == {"claude:s-1"}
    assert len({o.identity for o, _ in pairs}) == 2
    events = account(pairs)
    assert output_of(events) == 80 and {e.root_id for e in events} == {"s-1"}
    # with a result covering both (one model): max(sum of messages, result) = its 100
    both = account([*pairs, *parse_stream("claude-json", [result("r1", {OPUS: (100, 0.01)})])])
    assert output_of(both) == 100


def test_per_model_the_larger_of_messages_and_result_counts() -> None:
    lines = [
        message("claude-transcript", "m1", 500),
        message("claude-transcript", "m2", 70, model=HAIKU, agent="ab"),
    ]
    res = result("r1", {OPUS: (400, 0.2), HAIKU: (90, 0.01)})
    events = account([*parse_stream("claude-transcript", lines), *parse_stream("claude-json", [res])])
    # opus: messages 500 > result 400; haiku: result 90 > messages 70
    assert output_of(events) == 590
    assert {e.model for e in events if e.source == "claude-json" and not e.tokens.is_zero()} == {HAIKU}


def test_several_results_of_a_session_add_up() -> None:
    # a --resume'd run under the same session id: each claude -p result is its own process
    first, second = result("r1", {OPUS: (100, 0.1)}), result("r2", {OPUS: (60, 0.05)})
    events = run("claude-json", [first, second, first, second])
    assert (output_of(events), total_cost(events)) == (160, Decimal("0.15"))
    # their messages (both runs) are covered by the two results together
    lines = [message("claude-transcript", "m1", 90), message("claude-transcript", "m2", 55)]
    pairs = [*parse_stream("claude-transcript", lines), *parse_stream("claude-json", [first, second])]
    assert output_of(account(pairs)) == 160 and output_of(account(pairs[::-1])) == 160


def test_a_result_without_a_model_covers_all_of_its_sessions_messages() -> None:
    # older builds: no modelUsage, no model; reconciled per session, every model's messages
    lines = [message("claude-transcript", "m1", 300), message("claude-transcript", "m2", 100, model=HAIKU)]
    for res_out, expected in ((500, 500), (250, 400)):
        res = result("r1", None, output=res_out)
        pairs = [*parse_stream("claude-transcript", lines), *parse_stream("claude-json", [res])]
        for order in (pairs, pairs[::-1]):
            events = account(order)
            assert total_tokens(events) == TokenCounts(
                input_tokens=6, output_tokens=expected, cache_read_tokens=200
            )
