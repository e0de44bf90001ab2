"""The commit guard: Faust's consumer never commits past a record it did not acknowledge.

``_new_offset`` reads four of the consumer's own structures; they are built here exactly as
Faust keeps them (lists, sets and the IntervalTree of holes it saw in the fetched offsets).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from intervaltree import IntervalTree

from streams.runner.faust_fixes import guarded_new_offset

TP = ("raw", 0)


class ConsumerState:
    def __init__(self, committed: int | None, acked: list[int]) -> None:
        self._acked: dict[Any, list[int]] = defaultdict(list, {TP: list(acked)})
        self._acked_index: dict[Any, set[int]] = defaultdict(set, {TP: set(acked)})
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None, {TP: committed})


def guard() -> tuple[Any, list[tuple[Any, int, int]]]:
    skipped: list[tuple[Any, int, int]] = []
    return guarded_new_offset(lambda tp, c, f: skipped.append((tp, c, f))), skipped


def test_a_run_from_the_committed_offset_is_committed() -> None:
    new_offset, skipped = guard()
    state = ConsumerState(committed=3, acked=[5, 3, 4, 8])
    assert new_offset(state, TP) == 6
    assert state._acked[TP] == [8] and skipped == []


def test_one_missing_record_at_the_head_is_never_committed_past() -> None:
    # Faust 0.15.3 commits 21 here: offset 14 was dropped while the flow was stopped.
    new_offset, skipped = guard()
    state = ConsumerState(committed=14, acked=list(range(15, 21)))
    assert new_offset(state, TP) is None
    assert skipped == [(TP, 14, 15)]
    assert state._acked[TP] == list(range(15, 21))


def test_holes_faust_saw_in_the_log_count_as_done() -> None:
    new_offset, skipped = guard()
    state = ConsumerState(committed=10, acked=[10, 11, 15, 16])
    state._gap[TP].addi(12, 15)  # offsets 12..14 do not exist (e.g. transaction markers)
    assert new_offset(state, TP) == 17
    assert skipped == []


def test_nothing_acknowledged_commits_nothing() -> None:
    new_offset, skipped = guard()
    assert new_offset(ConsumerState(committed=7, acked=[]), TP) is None
    assert skipped == []


def test_a_partition_never_committed_commits_its_first_run() -> None:
    new_offset, _ = guard()
    assert new_offset(ConsumerState(committed=None, acked=[0, 1, 2]), TP) == 3
