"""Drain sessions: sending a spool's records to the broker, oldest first, and acknowledging them.

Two callers in a process share one :class:`Drainer` (so only one session runs at a time):
the shipper's recovery while it is spooling, and a periodic sweep while it sends directly,
which picks up segments that ended processes left behind (their streams are not ours).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from producers.delivery import send_in_order
from producers.held import HeldLines
from producers.link import BrokerUnavailable, KafkaLink
from producers.spool import Spool

log = logging.getLogger(__name__)


class Drainer:
    def __init__(self, spool: Spool, held: HeldLines, limit: int) -> None:
        self.spool = spool
        self.held = held
        self.limit = limit
        self.drained = 0
        self.held_count = 0
        self._lock = asyncio.Lock()

    async def drain(
        self, link: KafkaLink, keep_going: Callable[[], bool], *, claimed_only: bool = False
    ) -> bool:
        """Send while ``keep_going()``; True when everything this process can drain is sent.

        True is decided without awaiting after the last check, so the caller can switch to
        direct sending in the same step. False: another process drains this topic now, or
        ``keep_going()`` turned false. BrokerUnavailable propagates; unacked records stay.
        """
        async with self._lock:
            self.spool.refresh()  # other processes' segments count against the bound too
            if not self.spool.claim_abandoned():
                return False
            try:
                while keep_going():
                    chunk = self.spool.read_chunk(claimed_only=claimed_only)
                    if chunk is None:
                        if self.spool.adopt_abandoned():
                            continue  # a writer ended meanwhile: its lines come first
                        return True
                    self.held_count += await send_in_order(link, chunk.records, self.held, self.limit)
                    self.spool.ack(chunk)
                    self.drained += sum(record.lines for record in chunk.records)
                return False
            finally:
                self.spool.release_drain_lock()

    async def sweep(self, link: KafkaLink, current: Callable[[], bool], every_s: float) -> None:
        """While ``current()`` (direct sending on ``link``), send what ended processes left."""
        while current():
            await asyncio.sleep(every_s)
            if current() and self.spool.foreign_segments():
                try:
                    await self.drain(link, current, claimed_only=True)
                except (BrokerUnavailable, OSError) as exc:
                    log.debug("sweeping the spool failed (%s); the next sweep retries", exc)
