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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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
