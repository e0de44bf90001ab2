"""The input-progress rule (streams/runner/liveness.py), pure: no broker."""

from __future__ import annotations

from streams.runner.liveness import ProgressWatch


def test_records_waiting_behind_an_offset_that_never_moves_are_a_stall() -> None:
    watch = ProgressWatch(stall_seconds=10)
    assert watch.observe(0, {"p0": (5, 9)}) == []
    assert watch.observe(9, {"p0": (5, 9)}) == []
    assert watch.observe(10, {"p0": (5, 9)}) == [("p0", 5, 9)]


def test_a_slow_stage_that_moves_is_never_stalled() -> None:
    watch = ProgressWatch(stall_seconds=10)
    for second, offset in enumerate(range(100, 160, 2)):
        assert watch.observe(second * 5, {"p0": (offset, 10_000)}) == []


def test_nothing_waiting_is_no_stall_however_long() -> None:
    watch = ProgressWatch(stall_seconds=10)
    for second in range(0, 100, 5):
        assert watch.observe(second, {"p0": (7, 7), "p1": (3, 2)}) == []


def test_new_records_after_a_quiet_time_get_the_full_grace() -> None:
    watch = ProgressWatch(stall_seconds=10)
    watch.observe(0, {"p0": (7, 7)})
    watch.observe(50, {"p0": (7, 8)})  # a record arrives after 50 quiet seconds
    assert watch.observe(55, {"p0": (7, 8)}) == []
    assert watch.observe(60, {"p0": (7, 8)}) == [("p0", 7, 8)]


def test_reset_and_forgotten_partitions_start_again() -> None:
    watch = ProgressWatch(stall_seconds=10)
    watch.observe(0, {"p0": (1, 5), "p1": (1, 5)})
    watch.observe(5, {"p1": (1, 5)})  # p0 revoked
    assert watch.observe(12, {"p0": (1, 5), "p1": (1, 5)}) == [("p1", 1, 5)]
    watch.reset()  # recovering
    assert watch.observe(13, {"p1": (1, 5)}) == []
