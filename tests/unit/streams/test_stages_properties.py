"""Property tests of the pure stages: random and extreme inputs, random batches and crashes.

Values at 0, at the per-line bound, one past it, sums past a total's range, unicode scope
ids, hostile bytes and repeats go through normalize -> ledger -> rollup in memory
(tests/unit/streams/memory_pipeline.py). Whatever comes in, no stage raises, every line
has one outcome, every total is within its range and equals the sum of the usage events
published for its scopes, every usage delta is either published or dead-lettered, and a
run with crashes (outputs sent, state lost, batch replayed) ends where a clean run ends.
Hypothesis prints the failing example and the blob to reproduce it (print_blob).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.deadletter import H_REASON
from schemas.sources.base import MAX_COST_USD, MAX_COUNT
from schemas.usage import MAX_TOKENS, TOKEN_FIELDS
from tests.unit.streams.memory_pipeline import MemoryPipeline

SESSIONS = ["s", "séance-🦊", "会话", "a" * 512, "root/agent-1"]
COUNTS = st.one_of(
    st.sampled_from([0, 1, MAX_COUNT - 1, MAX_COUNT, MAX_COUNT + 1, 2**63, -1]),
    st.integers(0, 10**6),
)
COSTS = st.one_of(
    st.none(),
    st.sampled_from([0, 0.1, float(MAX_COST_USD), float(MAX_COST_USD) + 1, -0.5, 1e308]),
    st.decimals(0, 100, places=6).map(float),
)


@st.composite
def result_lines(draw: st.DrawFn) -> bytes:
    usage = {
        "input_tokens": draw(COUNTS),
        "output_tokens": draw(COUNTS),
        "cache_read_input_tokens": draw(COUNTS),
        "cache_creation_input_tokens": draw(COUNTS),
    }
    body = {
        "type": "result",
        "session_id": draw(st.sampled_from(SESSIONS)),
        "uuid": draw(st.sampled_from(["r1", "r2", "r3", "ünï"])),  # few: repeats of one run
        "usage": usage,
        "total_cost_usd": draw(COSTS),
    }
    return orjson.dumps(body)


LINES = st.lists(
    st.one_of(result_lines(), result_lines(), st.binary(max_size=64), st.just(b'{"type": "system"}')),
    min_size=1,
    max_size=40,
)
# One lineage for every stream of an example: a scope reported under two different roots
# lands in two rollup partitions, whose origin marks cannot order its deltas (a known
# limit, streams/README.md "One scope, one tree").
LINEAGES = st.sampled_from([(), ("root",), ("root", "mid")])
STREAMS = LINEAGES.flatmap(
    lambda lineage: st.lists(st.tuples(LINES, st.just(lineage)), min_size=1, max_size=3)
)


def run(streams: list[tuple[list[bytes], tuple[str, ...]]], batch: int, crashes: list[int]) -> MemoryPipeline:
    pipe = MemoryPipeline()
    for index, (lines, lineage) in enumerate(streams):
        pipe.publish(lines, stream=f"runner:/{index}.jsonl", lineage=lineage)
    for crash in crashes:  # a stage crashes after sending its outputs, before its state
        pipe.step(pipe.stages[crash % 3], batch_size=batch, crash_after_outputs=True)
        pipe.step(pipe.stages[(crash + 1) % 3], batch_size=batch)
    pipe.run(batch_size=batch)
    return pipe


def rejected_event_ids(pipe: MemoryPipeline) -> set[str]:
    ids = set()
    for record in pipe.dead():
        if b"range" in dict(record.headers)[H_REASON] and record.topic == "deadletter":
            value = record.value or b""
            if b" " in value:
                ids.add(orjson.loads(value.partition(b" ")[2])["event_id"])
    return ids


def view(pipe: MemoryPipeline) -> dict[str, tuple[object, ...]]:
    return {
        scope: tuple(sorted(orjson.loads(orjson.dumps(t["subtree"])).items()))  # type: ignore[arg-type]
        for scope, t in pipe.totals().items()
    }


@settings(max_examples=150, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(STREAMS, st.integers(1, 30), st.lists(st.integers(0, 8), max_size=4))
def test_any_input_in_any_batches_with_crashes_counts_exactly_once(
    streams: list[tuple[list[bytes], tuple[str, ...]]], batch: int, crashes: list[int]
) -> None:
    pipe = run(streams, batch, crashes)
    lines = sum(len(lines) for lines, _ in streams)
    assert sum(pipe.outcomes.values()) == lines
    usage = pipe.usage()
    # Each scope's subtree total is the sum of the usage events published under it.
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    expected_cost: dict[str, Decimal] = defaultdict(Decimal)
    for event in usage.values():
        for scope in (*event["lineage"], event["session_id"]):  # type: ignore[misc]
            expected[scope].update({n: int(event[n]) for n in TOKEN_FIELDS})  # type: ignore[call-overload]
            expected[scope]["events"] += 1
            expected_cost[scope] += Decimal(str(event["cost_usd"]))
    totals = pipe.totals()
    assert set(totals) == set(expected)
    for scope, record in totals.items():
        subtree = record["subtree"]
        for name in TOKEN_FIELDS:
            assert 0 <= subtree[name] <= MAX_TOKENS  # type: ignore[index]
            assert subtree[name] == expected[scope][name], (scope, name)  # type: ignore[index]
        assert subtree["events"] == expected[scope]["events"]  # type: ignore[index]
        assert Decimal(subtree["cost_usd"]) == expected_cost[scope]  # type: ignore[index]
    # Every delta the ledger made is published once or dead-lettered, never both.
    made = {orjson.loads(r.value.partition(b" ")[2])["event_id"] for r in _deltas(pipe)}
    rejected = rejected_event_ids(pipe)
    assert made == set(usage) | rejected and not set(usage) & rejected
    # Crashes change nothing: a clean run of the same input ends with the same totals.
    assert view(pipe) == view(run(streams, batch, []))


def _deltas(pipe: MemoryPipeline) -> list:  # type: ignore[type-arg]
    records = []
    for record in pipe.topic("deltas").records():
        records.extend(
            type(record)(record.topic, 0, 0, None, line, ())  # one envelope per line of a pack
            for line in (record.value or b"").split(b"\n")
        )
    return records


@settings(max_examples=8, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(995, 1010), st.integers(50, 700), st.lists(st.integers(0, 8), max_size=3))
def test_sums_past_a_totals_range_are_dead_lettered_and_the_rest_is_exact(
    count: int, batch: int, crashes: list[int]
) -> None:
    line = {"type": "result", "usage": {"cache_read_input_tokens": MAX_COUNT}}
    # two child sessions: one session's run group would refuse the sum itself (ledger)
    lines = [orjson.dumps({**line, "session_id": f"child-{n % 2}", "uuid": f"r{n}"}) for n in range(count)]
    pipe = run([(lines, ("root",))], batch, crashes)
    usage, rejected = pipe.usage(), rejected_event_ids(pipe)
    assert len(usage) == min(count, 1000) and len(rejected) == count - len(usage)
    totals = pipe.totals()
    children = sum(totals[c]["subtree"]["cache_read_tokens"] for c in ("child-0", "child-1"))  # type: ignore[index,misc]
    assert totals["root"]["subtree"]["cache_read_tokens"] == children == len(usage) * MAX_COUNT  # type: ignore[index]


def _dead(pipe: MemoryPipeline) -> set[tuple[bytes, bytes]]:
    return {(dict(r.headers)[H_REASON], r.value or b"") for r in pipe.dead()}


# The same streams with their lines said again: runs of repeats, and repeats after others.
REPEATING = STREAMS.map(lambda streams: [([*lines, *lines[::2]], lineage) for lines, lineage in streams])


@settings(max_examples=120, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(REPEATING, st.integers(1, 30), st.lists(st.integers(0, 8), max_size=3))
def test_skipping_repeated_observations_changes_no_count(
    streams: list[tuple[list[bytes], tuple[str, ...]]], batch: int, crashes: list[int]
) -> None:
    # Normalize does not send an observation that repeats the counts of the last one of its
    # identity in its batch: every event, total, window and ledger state is the same as when
    # it sends all of them. A refused observation's repeat would be refused for the same
    # reason: the same reasons, and no dead letter that sending all of them would not make.
    skipping = MemoryPipeline(skip_repeats=True)
    sending = MemoryPipeline(skip_repeats=False)
    for pipe in (skipping, sending):
        for index, (lines, lineage) in enumerate(streams):
            pipe.publish(lines, stream=f"runner:/{index}.jsonl", lineage=lineage)
        for crash in crashes:
            pipe.step(pipe.stages[crash % 3], batch_size=batch, crash_after_outputs=True)
            pipe.step(pipe.stages[(crash + 1) % 3], batch_size=batch)
        pipe.run(batch_size=batch)
    assert skipping.usage() == sending.usage()
    assert skipping.totals() == sending.totals()
    assert skipping.tables["ledger"] == sending.tables["ledger"]
    assert skipping.outcomes == sending.outcomes
    dead = [_dead(skipping), _dead(sending)]
    assert dead[0] <= dead[1] and {r for r, _ in dead[0]} == {r for r, _ in dead[1]}
    windows = [sorted(r.value or b"" for r in p.topic("windows").records()) for p in (skipping, sending)]
    assert set(windows[0]) == set(windows[1])


def test_repeated_usage_lines_are_not_sent_twice() -> None:
    line = orjson.dumps(
        {"type": "result", "session_id": "s", "uuid": "r1", "usage": {"input_tokens": 5, "output_tokens": 7}}
    )
    grown = line.replace(b'"output_tokens":7', b'"output_tokens":9')
    pipe = MemoryPipeline()
    pipe.publish([line, line, grown, grown, line])
    pipe.step(pipe.stages[0], batch_size=10)
    envelopes = [e for r in pipe.topic("observations").records() for e in (r.value or b"").split(b"\n")]
    # line, grown and the last line (it differs from the last one sent: grown) are sent.
    assert len(envelopes) == 3
    pipe.run()
    (total,) = pipe.totals().values()
    assert total["subtree"]["output_tokens"] == 9 and total["subtree"]["input_tokens"] == 5  # type: ignore[index]
    assert pipe.outcomes["usage"] == 5
