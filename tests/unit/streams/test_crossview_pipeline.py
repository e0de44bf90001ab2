"""Cross-view reconciliation through the worker's three stages, in memory: the real run
as a transcript, a ``claude -p`` result and stream-json (tests/fixtures/claude-crossview/),
from two producers, arriving interleaved in random chunks, batches and with crashes,
counts the run once in ``totals`` and on ``usage`` (what the lake stores)."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.claude_crossview import HERE, SESSION, transcript_lines
from tests.unit.streams.memory_pipeline import MemoryPipeline

FORMATS = {"transcript": "claude-transcript", "result": "claude-json", "stream": "claude-stream-json"}
RUN = {
    "input_tokens": 2_016,
    "output_tokens": 64_185,
    "cache_write_5m_tokens": 622_125,
    "cache_write_1h_tokens": 0,
    "cache_read_tokens": 10_172_221,
}
RUN_COST = Decimal("10.58909675")


@pytest.fixture(scope="module")
def views(real_fixtures: Path) -> dict[str, list[bytes]]:
    return {
        "transcript": transcript_lines(real_fixtures),
        "result": (HERE / "result.json").read_bytes().splitlines(),
        "stream": (HERE / "stream.jsonl").read_bytes().splitlines(),
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.randoms(use_true_random=False),
    st.sets(st.sampled_from(sorted(FORMATS)), min_size=1),
    st.sets(st.sampled_from(["host-a", "host-b"]), min_size=1),
    st.integers(20, 400),
    st.lists(st.integers(0, 8), max_size=3),
)
def test_any_views_from_any_producers_in_any_interleaving_count_the_run_once(
    views: dict[str, list[bytes]],
    rnd: random.Random,
    names: set[str],
    hosts: set[str],
    batch: int,
    crashes: list[int],
) -> None:
    pipe = MemoryPipeline()
    # each (view, producer) is one stream, published in chunks interleaved with the others
    pending = {(view, host): (1, views[view]) for view in sorted(names) for host in sorted(hosts)}
    while pending:
        key, (first, lines) = rnd.choice(sorted(pending.items()))
        view, host = key
        size = rnd.randint(1, 120)
        pipe.publish(lines[:size], stream=f"{host}:/{view}.jsonl", first=first, source=FORMATS[view])
        if lines[size:]:
            pending[key] = (first + size, lines[size:])
        else:
            del pending[key]
        if rnd.random() < 0.3:
            for crash in crashes:
                pipe.step(pipe.stages[crash % 3], batch_size=batch, crash_after_outputs=True)
            pipe.run(batch_size=batch)
    pipe.run(batch_size=batch)

    assert not pipe.dead()
    subtree = pipe.totals()[SESSION]["subtree"]
    assert isinstance(subtree, dict)
    assert {name: subtree[name] for name in RUN} == RUN
    assert Decimal(str(subtree["cost_usd"])) == RUN_COST
    usage = pipe.usage().values()
    assert sum(int(str(e["output_tokens"])) for e in usage) == RUN["output_tokens"]
    assert sum((Decimal(str(e["cost_usd"])) for e in usage), Decimal(0)) == RUN_COST
