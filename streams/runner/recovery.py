"""A table recovery that makes no progress is detected and handed to ``on_stall``.

Faust 0.15.3 can stay in recovery for ever: ``Recovery._restart_recovery`` waits on
``signal_recovery_end`` without a timeout (faust/tables/recovery.py:465), and only
``_slurp_changelogs`` sets it, after a changelog event brings every active partition to its
highwater. If no changelog event reaches the changelog queue (the partitions stay paused
after a rebalance Faust ignored as "rebalance again", recovery.py:262; or the fetcher
drops them as below a stale read offset, transport/consumer.py ``_drain_messages``), the
worker only logs "No event received for active tp ... since recovery start"
(recovery.py:1093) every 5 s, and its totals never converge (issue 11, item 4).

The rule, as code in :func:`observe`: while Faust is in recovery, a recovery is *stalled*
when some active changelog partition is below its highwater and no active partition's
applied offset has moved for ``stall_seconds``. A new consumer generation, a changed set
of partitions or any offset moving forward restarts the clock; a partition at its
highwater, or one whose offset or highwater Faust has not read yet, is not waiting.

Faust internals read here (the runner owns them; re-check on any Faust upgrade):

- ``app.tables.recovery``: the ``faust.tables.recovery.Recovery`` service;
- ``Recovery.in_recovery``: True from ``_set_recovery_started`` to ``_set_recovery_ended``;
- ``Recovery.active_tps``: the changelog partitions this worker restores as active;
- ``Recovery.active_offsets``: per partition, the last changelog offset applied (or None);
- ``Recovery.active_highwaters``: per partition, the offset recovery must reach (end - 1);
- ``app.consumer_generation_id``: the consumer group generation of the latest assignment.

None of them has a leading underscore, but none is documented API either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# A rebalance during recovery legitimately freezes every offset until the group settles:
# a dead member is evicted one session timeout after its last heartbeat, then Faust
# sleeps ``stream_recovery_delay`` and reads highwaters again before it fetches. The
# slack covers a few fetch long-polls (1.5 s each) and event-loop starvation on a busy
# 2-core machine.
STALL_SLACK_SECONDS = 5.0
SAMPLE_INTERVAL_SECONDS = 1.0
MAX_PARTITIONS_IN_REASON = 8


def default_stall_seconds(session_timeout: float, recovery_delay: float) -> float:
    """Seconds without progress that no healthy recovery reaches (15 s with our settings).

    A healthy recovery moves an offset at least once per fetch long-poll; its longest
    legitimate pause is a rebalance inside it (``session_timeout + recovery_delay``).
    """
    return session_timeout + recovery_delay + STALL_SLACK_SECONDS


@dataclass(frozen=True)
class Progress:
    """One changelog partition: the last offset applied and the offset to reach."""

    offset: int | None
    highwater: int | None

    @property
    def behind(self) -> bool:
        """Still has records to apply (Faust's own test: ``highwater - offset > 0``)."""
        return self.offset is not None and self.highwater is not None and self.highwater > self.offset


@dataclass(frozen=True)
class Sample:
    """What the watch saw at one instant."""

    generation: int
    partitions: Mapping[Hashable, Progress]


@dataclass(frozen=True)
class WatchState:
    """What :func:`observe` carries from one sample to the next."""

    generation: int
    offsets: Mapping[Hashable, int | None]
    progress_at: float


@dataclass(frozen=True)
class Verdict:
    """``stalled`` once ``stalled_for`` reached the limit with ``behind`` non-empty."""

    stalled: bool
    stalled_for: float
    behind: Mapping[Hashable, Progress] = field(default_factory=dict)

    def reason(self) -> str:
        shown = sorted(self.behind.items(), key=lambda item: str(item[0]))[:MAX_PARTITIONS_IN_REASON]
        parts = ", ".join(f"{tp} at {p.offset}/{p.highwater}" for tp, p in shown)
        more = len(self.behind) - len(shown)
        suffix = f" and {more} more" if more > 0 else ""
        return (
            f"table recovery made no progress for {self.stalled_for:.0f}s with "
            f"{len(self.behind)} changelog partition(s) below their highwater: {parts}{suffix}"
        )


def _moved(state: WatchState, sample: Sample) -> bool:
    if sample.generation != state.generation or sample.partitions.keys() != state.offsets.keys():
        return True
    for tp, progress in sample.partitions.items():
        before = state.offsets[tp]
        if progress.offset is not None and (before is None or progress.offset > before):
            return True
    return False


def observe(
    state: WatchState | None, sample: Sample, now: float, stall_seconds: float
) -> tuple[WatchState, Verdict]:
    """The next state and whether recovery is stalled, from one more sample at ``now``."""
    behind = {tp: p for tp, p in sample.partitions.items() if p.behind}
    moved = state is None or not behind or _moved(state, sample)
    progress_at = now if moved or state is None else state.progress_at
    offsets = {tp: p.offset for tp, p in sample.partitions.items()}
    new_state = WatchState(sample.generation, offsets, progress_at)
    stalled_for = now - progress_at
    return new_state, Verdict(bool(behind) and stalled_for >= stall_seconds, stalled_for, behind)


def sample_recovery(app: Any) -> Sample | None:
    """The recovery's progress now, or None when Faust is not recovering tables."""
    recovery = app.tables.recovery
    if not recovery.in_recovery:
        return None
    offsets, highwaters = recovery.active_offsets, recovery.active_highwaters
    partitions = {tp: Progress(offsets.get(tp), highwaters.get(tp)) for tp in set(recovery.active_tps)}
    return Sample(int(app.consumer_generation_id), partitions)


async def watch_recovery(
    app: Any,
    stall_seconds: float,
    on_stall: Callable[[str], None],
    *,
    interval: float = SAMPLE_INTERVAL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Sample Faust's recovery every ``interval`` and call ``on_stall(reason)`` on a stall.

    Runs until cancelled. Outside recovery it only sleeps. After ``on_stall`` returns (it
    is expected to end the process) the clock starts again, so it is called at most once
    per ``stall_seconds``.
    """
    state: WatchState | None = None
    while True:
        await asyncio.sleep(interval)
        sample = sample_recovery(app)
        if sample is None:
            state = None
            continue
        state, verdict = observe(state, sample, clock(), stall_seconds)
        if verdict.stalled:
            on_stall(verdict.reason())
            state = None
