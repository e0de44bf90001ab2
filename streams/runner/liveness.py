"""A stage whose input partition has records waiting but hands none over is got out of.

Seen on the real broker (tests/reliability/test_kill_beside_cpu_hog.py): after its peer was
SIGKILLed, a survivor rebalanced, recovered its tables ("Worker ready") and then handed no
record of its new partitions to any stage for the remaining 47 s of the run, with nothing
logged. Faust 0.15.3's fetcher had stopped delivering those partitions (paused or dropped
by a rebalance it did not finish, streams/runner/recovery.py names the suspects). The
recovery watchdog cannot see it: the recovery had ended.

The rule, as code in :class:`ProgressWatch`: while the worker is not recovering, an input
partition is *stalled* when its end offset is beyond the next offset the stage expects
(records are waiting) and that next offset has not moved for ``stall_seconds``. Then the
worker logs one CRITICAL line and exits 75; ``spendstream worker``'s supervisor restarts it
and the restart resumes from the committed offsets (``/metrics`` ``restarts``:
``recovery_stalled``). A stage that is merely slow moves its offsets and is never stalled.

End offsets come from a client of our own (no group), so a stuck Faust consumer thread
cannot hide them. Faust internal read: the consumer's ``_committed_offset`` (where a
partition starts before its first record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

# Beyond a batch's time on a starved machine (a batch holds at most 2,000 records), within
# the 30 s in which a survivor must have its peer's partitions exact again (issue 11).
STALL_SECONDS = 12.0
CHECK_INTERVAL_SECONDS = 2.0


class ProgressWatch:
    """Per input partition, the next offset a stage expects and since when it has not moved."""

    def __init__(self, stall_seconds: float) -> None:
        self.stall_seconds = stall_seconds
        # tp -> (next offset expected, since when records wait behind it at that offset)
        self._since: dict[Any, tuple[int, float | None]] = {}

    def reset(self) -> None:
        self._since.clear()

    def observe(self, now: float, partitions: Mapping[Any, tuple[int, int]]) -> list[tuple[Any, int, int]]:
        """``partitions``: tp -> (next offset expected, end offset). Returns the stalled ones
        as (tp, next, end); partitions no longer given are forgotten."""
        stalled = []
        for tp in set(self._since) - set(partitions):
            del self._since[tp]
        for tp, (expected, end) in partitions.items():
            seen = self._since.get(tp)
            if end <= expected:  # nothing waiting
                self._since[tp] = (expected, None)
            elif seen is None or seen[0] != expected or seen[1] is None:  # moved, or newly waiting
                self._since[tp] = (expected, now)
            elif now - seen[1] >= self.stall_seconds:
                stalled.append((tp, expected, end))
        return stalled


async def watch_progress(
    app: Any,
    client_options: Mapping[str, Any],
    topics: frozenset[str],
    expected_next: Callable[[Any], int | None],
    recovering: Callable[[], bool],
    on_stall: Callable[[str], None],
    *,
    busy: Callable[[], set[str]] = set,
    stall_seconds: float = STALL_SECONDS,
    interval: float = CHECK_INTERVAL_SECONDS,
) -> None:
    """Check the stages' input partitions every ``interval`` (those of a stage handling a
    batch right now excepted: ``busy()`` names their topics); call ``on_stall`` on a stall."""
    watch = ProgressWatch(stall_seconds)
    ends = AIOKafkaConsumer(**client_options, enable_auto_commit=False, group_id=None)
    await ends.start()
    try:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            if recovering():
                watch.reset()
                continue
            # A stage in the middle of a batch (slow, or retrying a send) is not stalled.
            owned = [tp for tp in app.consumer.assignment() if tp.topic in topics and tp.topic not in busy()]
            try:
                offsets = await asyncio.wait_for(
                    ends.end_offsets([TopicPartition(tp.topic, tp.partition) for tp in owned]), 10
                )
            except (KafkaError, OSError, TimeoutError) as exc:
                log.info("input end offsets unavailable (checked again): %r", exc)
                continue
            committed: Mapping[Any, int | None] = app.consumer._committed_offset
            partitions = {}
            for tp in owned:
                expected = expected_next(tp)
                if expected is None:
                    expected = committed.get(tp) or 0
                partitions[tp] = (expected, offsets.get(TopicPartition(tp.topic, tp.partition), 0))
            stalled = watch.observe(loop.time(), partitions)
            if stalled:
                on_stall(", ".join(f"{tp.topic}[{tp.partition}] at {n} of {e}" for tp, n, e in stalled))
                watch.reset()
    finally:
        with contextlib.suppress(Exception):
            await ends.stop()
