"""Inputs reach a stage in offset order, or the worker stops before acting on them.

Every stage's dedup assumes that a partition's records are handled in offset order: the
normalize stage drops a line at or below its stream's high-water position, and the rollup
skips a delta whose ledger origin is at or below the highest it applied. Faust 0.15.3 can
skip a record it is handing to a stream when its flow stops (streams/faust_fixes.py, slip
1) and go on with the next ones; a rebalance or a restart reads the skipped record again
later, when the records after it have already moved the high-water marks: its usage
would then be dropped as a repeat (tests/reliability/test_rebalance.py lost a grandchild's
two deltas in an ancestor's subtree this way, 1 run in about 10).

:class:`InputOrder` checks each batch before the stage handles it: per input partition,
the next offset expected is one past the last record handed to the stage, or after an
assignment the offset Faust sought to (the committed one). A record beyond it means
records were skipped: the batch is not handled and the worker stops with the fail-stop
exit code, so the restart reads from the committed offset, in order. Records below it are
a replay after a seek, which every stage absorbs. Our input topics are written without
transactions, so their offsets have no holes.

A partition with no committed offset (a new consumer group, whose first owner had not
committed yet when a rebalance moved the partition; Faust also reads a committed 0 as
none) is read from its log start (``auto_offset_reset`` earliest): its first record must be
that one. The runner asks the broker for the log start of such partitions
(:meth:`unknown_starts`, :meth:`learn_starts`) before the check; without it, a skip of the
first records after that rebalance went unseen and their usage was lost (2 of 5 runs of
two workers started together with `publish` running: 4-7 of 682 sessions short in the lake).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Gap = tuple[Any, int, int]  # (topic partition, offset expected, offset received)


class InputOrder:
    """Per topic partition, the next offset a stage may receive without a skip before it."""

    def __init__(self, committed: Callable[[Any], int | None]) -> None:
        # ``committed(tp)``: the offset the consumer sought to at assignment (None when it
        # does not know one: then the first record sets the expectation).
        self._committed = committed
        self._next: dict[Any, int] = {}

    def forget(self, partitions: Iterable[Any]) -> None:
        """Partitions revoked: after the next assignment, expect their committed offset."""
        for tp in partitions:
            self._next.pop(tp, None)

    def unknown_starts(self, events: Sequence[Any]) -> set[Any]:
        """Partitions of ``events`` with no expectation yet and no committed offset: their
        log start must be learnt (:meth:`learn_starts`) before :meth:`first_gap`."""
        unknown = set()
        for event in events:
            tp = event.message.tp
            if tp not in self._next and tp not in unknown and self._committed(tp) is None:
                unknown.add(tp)
        return unknown

    def learn_starts(self, starts: Mapping[Any, int]) -> None:
        """The log start offsets of partitions read from their start: the first record of
        each must be there (a replay below it is absorbed as any)."""
        for tp, start in starts.items():
            if tp not in self._next and start is not None and start >= 0:
                self._next[tp] = start

    def next_expected(self, tp: Any) -> int | None:
        """The next offset of ``tp`` a stage may receive (None before its first record)."""
        return self._next.get(tp)

    def first_gap(self, events: Sequence[Any]) -> Gap | None:
        """The first record of ``events`` that comes after a skipped one, else None (and
        the expectations move past the batch)."""
        for event in events:
            message = event.message
            tp, offset = message.tp, message.offset
            expected = self._next.get(tp)
            if expected is None:
                expected = self._committed(tp)
            if expected is not None and offset > expected:
                return tp, expected, offset
            self._next[tp] = offset + 1
        return None
