"""A recovery stalls when no active changelog offset moves while one is below its highwater."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

from streams.runner.recovery import (
    Progress,
    Sample,
    WatchState,
    default_stall_seconds,
    observe,
    sample_recovery,
    watch_recovery,
)

LIMIT = 15.0


def sample(generation: int = 1, **partitions: tuple[int | None, int | None]) -> Sample:
    return Sample(generation, {tp: Progress(*p) for tp, p in partitions.items()})


def run(samples: list[tuple[float, Sample]], limit: float = LIMIT) -> list[tuple[bool, float]]:
    state: WatchState | None = None
    verdicts = []
    for now, s in samples:
        state, verdict = observe(state, s, now, limit)
        verdicts.append((verdict.stalled, verdict.stalled_for))
    return verdicts


def test_offsets_moving_forward_is_progress() -> None:
    samples = [(float(t), sample(a=(t * 10, 1000))) for t in range(60)]
    assert not any(stalled for stalled, _ in run(samples))


def test_no_offset_moving_below_highwater_stalls_after_the_limit() -> None:
    samples = [(float(t), sample(a=(5, 100), b=(100, 100))) for t in range(20)]
    verdicts = run(samples)
    assert [stalled for stalled, _ in verdicts] == [t >= LIMIT for t in range(20)]
    assert verdicts[16] == (True, 16.0)


def test_one_partition_moving_keeps_the_whole_recovery_alive() -> None:
    samples = [(float(t), sample(a=(5, 100), b=(t, 100))) for t in range(40)]
    assert not any(stalled for stalled, _ in run(samples))


def test_partitions_at_their_highwater_are_not_waiting() -> None:
    samples = [(float(t), sample(a=(100, 100), b=(-1, -1))) for t in range(60)]
    assert not any(stalled for stalled, _ in run(samples))


def test_unknown_offset_or_highwater_is_not_behind_as_in_faust() -> None:
    # Faust's need_recovery skips a partition whose offset or highwater it has not read yet.
    samples = [(float(t), sample(a=(None, 100), b=(5, None))) for t in range(60)]
    assert not any(stalled for stalled, _ in run(samples))


def test_clock_runs_from_the_last_sample_with_nothing_behind() -> None:
    caught_up = [(float(t), sample(a=(100, 100))) for t in range(30)]
    behind = [(float(t), sample(a=(100, 200))) for t in range(30, 60)]
    verdicts = run(caught_up + behind)
    assert verdicts[29 + 14] == (False, 14.0)
    assert verdicts[29 + 15] == (True, 15.0)


def test_a_new_generation_restarts_the_clock() -> None:
    first = [(float(t), sample(1, a=(5, 100))) for t in range(10)]
    second = [(float(t), sample(2, a=(5, 100))) for t in range(10, 30)]
    verdicts = run(first + second)
    assert not any(stalled for stalled, _ in verdicts[:25])
    assert verdicts[25] == (True, 15.0)


def test_a_changed_assignment_restarts_the_clock() -> None:
    before = [(float(t), sample(a=(5, 100))) for t in range(10)]
    after = [(float(t), sample(a=(5, 100), b=(0, 50))) for t in range(10, 20)]
    assert not any(stalled for stalled, _ in run(before + after))


def test_an_offset_going_back_is_not_progress() -> None:
    # Faust re-seeking to an earlier offset must not count as the recovery moving on.
    samples = [(float(t), sample(a=(50 if t < 5 else 40, 100))) for t in range(20)]
    verdicts = run(samples)
    assert verdicts[5] == (False, 5.0)
    assert verdicts[15] == (True, 15.0)


def test_reason_names_the_partitions_behind() -> None:
    state: WatchState | None = None
    for t in range(17):
        state, verdict = observe(state, sample(a=(5, 100), b=(100, 100)), float(t), LIMIT)
    assert verdict.stalled
    assert verdict.reason() == (
        "table recovery made no progress for 16s with 1 changelog partition(s) below their "
        "highwater: a at 5/100"
    )


def test_default_stall_seconds_outlasts_a_rebalance_inside_recovery() -> None:
    assert default_stall_seconds(session_timeout=10.0, recovery_delay=0.0) == 15.0
    assert default_stall_seconds(session_timeout=10.0, recovery_delay=3.0) > 10.0 + 3.0


def fake_app(in_recovery: bool, offsets: dict[str, Any], highwaters: dict[str, int]) -> Any:
    recovery = SimpleNamespace(
        in_recovery=in_recovery,
        active_tps=set(offsets),
        active_offsets=Counter(offsets),
        active_highwaters=Counter(highwaters),
    )
    return SimpleNamespace(tables=SimpleNamespace(recovery=recovery), consumer_generation_id=3)


def test_sample_reads_faust_recovery_state() -> None:
    app = fake_app(True, {"a": 5, "b": None}, {"a": 100})
    assert sample_recovery(app) == Sample(3, {"a": Progress(5, 100), "b": Progress(None, None)})
    assert sample_recovery(fake_app(False, {"a": 5}, {"a": 100})) is None


def test_watch_calls_on_stall_once_per_stall() -> None:
    app = fake_app(True, {"a": 5}, {"a": 100})
    now = [0.0]
    stalls: list[tuple[float, str]] = []

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    async def main() -> None:
        second = asyncio.Event()

        def on_stall(reason: str) -> None:
            stalls.append((now[0], reason))
            if len(stalls) == 2:
                second.set()

        task = asyncio.ensure_future(watch_recovery(app, 3.0, on_stall, interval=0, clock=clock))
        await asyncio.wait_for(second.wait(), timeout=5)
        task.cancel()

    asyncio.run(main())
    # First sample at 1 s, stalled at 4 s; the clock restarts at 5 s, stalled again at 8 s.
    assert [at for at, _ in stalls] == [4.0, 8.0]
    assert "a at 5/100" in stalls[0][1]
