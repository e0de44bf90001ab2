"""A Faust 0.15.3 consumer bug that loses input under ``at_least_once``, and our guard.

Two slips in ``faust/transport/consumer.py`` combine (reproduced on the real broker by
tests/reliability/test_worker_sigkill.py: raw partition 0 offset 14 had no outcome at all,
no observation, no dead letter, no stream state, yet the group committed past it):

1. ``_drain_messages`` hands each fetched record to its stream with
   ``wait_first(callback(message), suspend_flow.wait())``. If Faust stops the flow
   (rebalance, table recovery) while the record waits, the hand-over is abandoned and the
   read offset moves past it: the record is never processed.
2. ``_new_offset`` treats the committed offset (the *next* offset to read) as the last
   processed one: with the first record after it unacknowledged (as after 1.) and later
   ones acknowledged, it commits past it. The record is then lost for good.

The guard replaces ``_new_offset``: it commits only a run of acknowledged offsets that
starts at the committed offset. A gap at the head means a record was skipped (our input
topics are written without transactions, so their offsets have no holes, and each stage
acknowledges a partition's records in order): nothing is committed, and the worker stops
with the fail-stop exit code (streams/runner/io.py). ``spendstream worker`` restarts it
(spendstream/supervise.py), and the restart reads again from the committed offset,
skipped record included; records after it are repeats, which every stage drops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.transport.consumer import Consumer
from faust.utils.functional import consecutive_numbers

from streams.runner.io import fail_stop


def _skipped(tp: Any, committed: int, first_acked: int) -> None:
    fail_stop(
        "%s: offsets %d..%d were skipped by Faust's consumer while %d+ are acknowledged; "
        "stopping so the restart reads them again",
        *(tp, committed, first_acked - 1, first_acked),
    )


def guarded_new_offset(on_skipped: Callable[[Any, int, int], None] = _skipped) -> Callable[..., int | None]:
    """``Consumer._new_offset`` that never commits past an unacknowledged record."""

    def _new_offset(self: Any, tp: Any) -> int | None:
        acked: list[int] = self._acked[tp]
        if not acked:
            return None
        gaps = self._gap[tp]
        if gaps:
            # Offsets Faust saw missing in the fetched stream (holes in the log) count as done.
            max_offset = max(acked)
            candidates = sorted(gaps.overlap(0, max_offset), key=lambda x: x.begin)
            if candidates:
                filled: list[int] = []
                for entry in candidates:
                    filled.extend(range(entry.begin, entry.end))
                acked.extend(o for o in filled if o not in self._acked_index[tp])
                gaps.chop(0, max(filled[-1], max_offset + 1))
        acked.sort()
        committed = self._committed_offset[tp]
        if committed is not None and acked[0] > committed:
            on_skipped(tp, committed, acked[0])
            return None
        run = next(consecutive_numbers(acked))
        acked[: len(run)] = []
        self._acked_index[tp].difference_update(run)
        return int(run[-1]) + 1

    return _new_offset


def install() -> None:
    """Patch Faust's consumer (idempotent; done when the worker's app is built)."""
    if not getattr(Consumer._new_offset, "spendstream_guard", False):
        patched = guarded_new_offset()
        patched.spendstream_guard = True  # type: ignore[attr-defined]
        Consumer._new_offset = patched  # type: ignore[method-assign]
