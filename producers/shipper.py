"""Deliver records to the raw topic in order, or spool them; never drop one.

Modes:
- ``connecting``: records wait in memory for the first connection;
- ``direct``: records go to the broker, one batch in flight per partition (see link.py);
- ``spooling``: the broker is away (or older spooled lines must go first): every record
  is appended to the spool, and a recovery task reconnects with backoff and drains the
  spool oldest first; the switch back to ``direct`` happens in the same synchronous step
  that finds the spool empty, so no record can overtake a spooled one.

A record is *durable* once the broker acknowledged it or it is in the spool and fsynced;
``flush()`` returns when everything accepted so far is durable, and callers that can
re-read their input (``watch``) save their positions only after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from config.access import AccessRefused
from config.kafka import RAW
from config.settings import Settings
from producers.delivery import send_isolating
from producers.drain import Drainer
from producers.held import HeldLines
from producers.link import BrokerUnavailable, KafkaLink
from producers.records import OutRecord
from producers.spool import Spool, SpoolError, SpoolFull

log = logging.getLogger(__name__)

_MAX_UNACKED_BYTES = 32 * 1024 * 1024
_LANE_BATCH_BYTES = 4 * 1024 * 1024
_WAIT_FOR_OTHER_DRAINER_S = 0.5
_SWEEP_S = 15.0
_YIELD_EVERY = 256


class Mode(enum.Enum):
    CONNECTING = "connecting"
    DIRECT = "direct"
    SPOOLING = "spooling"
    REFUSED = "refused"  # the broker refused this runner (password, ACL): nothing more is accepted
    CLOSED = "closed"


class NotDurable(Exception):
    """Some accepted records could be neither delivered nor spooled (spool full or disk error)."""

    def __init__(self, count: int, reason: str) -> None:
        super().__init__(f"{count} line(s) could not be delivered or spooled: {reason}")
        self.count = count


@dataclass
class ShipStats:
    """Counts of lines (a packed record counts as its ``ss-lines``), not of records."""

    accepted: int = 0
    sent: int = 0
    spooled: int = 0
    drained: int = 0
    held: int = 0
    not_durable: int = 0
    refused: int = 0  # lines dropped because the broker refused this runner: never spooled
    left_in_spool: int = 0  # records of this process still spooled when it closed


@dataclass
class _Lane:
    queue: deque[tuple[int, OutRecord]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Shipper:
    """The producer side of one process; ``overflow_ok`` lets the spool exceed its bound."""

    def __init__(self, settings: Settings, *, overflow_ok: bool = False) -> None:
        self.settings = settings
        self.overflow_ok = overflow_ok
        self.spool = Spool(
            settings.spool_path,
            settings.topic(RAW),
            max_bytes=settings.spool_max_bytes,
            segment_bytes=settings.spool_segment_bytes,
        )
        self.held = HeldLines(settings.spool_path)
        self.drainer = Drainer(self.spool, self.held, settings.max_record_bytes)
        self.stats = ShipStats()
        self.mode = Mode.CONNECTING
        self.last_error: str | None = None
        self._link: KafkaLink | None = None
        self._unacked: dict[int, OutRecord] = {}
        self._unacked_bytes = 0
        self._seq = itertools.count()
        self._lanes: dict[int, _Lane] = {}
        self._settled = asyncio.Event()
        self._settled.set()
        self._room = asyncio.Event()  # set while fewer than _MAX_UNACKED_BYTES wait for acks
        self._undurable: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._aborts: list[asyncio.Task[None]] = []
        self._direct = asyncio.Event()
        self.refused: AccessRefused | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Begin connecting in the background; older spooled lines of this topic go first."""
        if self.spool.foreign_segments():
            self._enter_spooling("older spooled lines are waiting")
        else:
            self._spawn(self._connect())

    async def wait_drained(self, seconds: float) -> bool:
        """Give the shipper up to ``seconds`` to connect and empty its spool; True if it did."""
        if self.mode in (Mode.CONNECTING, Mode.SPOOLING):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._direct.wait(), seconds)
            await self.flush()
        return self.mode is Mode.DIRECT

    async def close(self) -> None:
        """Flush, then stop; whatever is still unsent stays in the spool for the next process."""
        try:
            await self.flush()
        finally:
            self.mode = Mode.CLOSED
            for task in list(self._tasks):
                task.cancel()
            for task in [*self._tasks, *self._aborts]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self._link is not None:
                await self._link.close()
                self._link = None
            self.stats.drained = self.drainer.drained
            self.stats.held += self.drainer.held_count
            self.stats.left_in_spool = self.stats.spooled - self.stats.drained if self.spool.pending() else 0
            self.spool.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        try:
            link = await KafkaLink.connect(self.settings)
        except BrokerUnavailable as exc:
            self._fail_over(exc)
            return
        except AccessRefused as exc:
            self._refuse(exc)
            return
        if self.mode is not Mode.CONNECTING:
            await link.close()
            return
        self._go_direct(link)

    # -- accepting ------------------------------------------------------------------------
    async def put(self, record: OutRecord) -> None:
        """Accept one record. Raises SpoolFull/SpoolError only when it could not be kept,
        AccessRefused once the broker refused this runner (the record is not kept)."""
        if self.refused is not None:
            self.stats.refused += record.lines
            raise self.refused
        if self.mode is Mode.SPOOLING:
            self.spool.append([record], overflow_ok=self.overflow_ok)
            self.stats.accepted += record.lines
            self.stats.spooled += record.lines
            return
        seq = next(self._seq)
        self._unacked[seq] = record
        self._unacked_bytes += record.size
        self._settled.clear()
        self.stats.accepted += record.lines
        if self.mode is Mode.DIRECT:
            self._enqueue(seq, record)
        if seq % _YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let the lanes send while the caller keeps reading
        if self._unacked_bytes > _MAX_UNACKED_BYTES:
            self._room.clear()
            await self._room.wait()

    async def flush(self) -> None:
        """Wait until every accepted record is acknowledged or spooled (and fsynced)."""
        while self._unacked and self.mode in (Mode.CONNECTING, Mode.DIRECT):
            await self._settled.wait()
        if self.mode is Mode.SPOOLING:
            self.spool.sync()
        if self.refused is not None:
            raise self.refused
        if self._undurable:
            reasons, self._undurable = self._undurable, []
            raise NotDurable(len(reasons), reasons[-1])

    # -- direct mode ----------------------------------------------------------------------
    def _go_direct(self, link: KafkaLink) -> None:
        self._link = link
        self.mode = Mode.DIRECT
        self._direct.set()
        self.last_error = None
        self._spawn(self.drainer.sweep(link, lambda: self._link is link, _SWEEP_S))
        for seq, record in self._unacked.items():
            self._enqueue(seq, record)

    def _enqueue(self, seq: int, record: OutRecord) -> None:
        assert self._link is not None
        partition = self._link.partition_for(record.key)
        lane = self._lanes.get(partition)
        if lane is None:
            lane = self._lanes[partition] = _Lane()
            self._spawn(self._run_lane(self._link, partition, lane))
        lane.queue.append((seq, record))
        lane.wake.set()

    async def _run_lane(self, link: KafkaLink, partition: int, lane: _Lane) -> None:
        while self._link is link:
            if not lane.queue:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            items: list[tuple[int, OutRecord]] = []
            size = 0
            while lane.queue and size < _LANE_BATCH_BYTES:
                items.append(lane.queue.popleft())
                size += items[-1][1].size
            try:
                await self._send(link, partition, [record for _, record in items])
            except AccessRefused as exc:
                self._refuse(exc)
                return
            except Exception as exc:  # any other failure to deliver is transient here: spool, retry
                self._fail_over(exc)
                return
            if self._link is not link:
                return  # failed over meanwhile: these records are in the spool as well
            for seq, _ in items:
                self._ack(seq)

    async def _send(self, link: KafkaLink, partition: int, records: list[OutRecord]) -> None:
        limit = self.settings.max_record_bytes
        self.stats.held += await send_isolating(link, partition, records, self.held, limit)

    def _ack(self, seq: int) -> None:
        record = self._unacked.pop(seq, None)
        if record is None:
            return
        self._unacked_bytes -= record.size
        self.stats.sent += record.lines
        if self._unacked_bytes <= _MAX_UNACKED_BYTES // 2:
            self._room.set()
        if not self._unacked:
            self._settled.set()

    # -- refused ---------------------------------------------------------------------------
    def _refuse(self, exc: AccessRefused) -> None:
        """Stop for good: the broker refused this runner, so no line is spooled for later
        (a wrong password or a missing ACL does not heal by retrying). Lines the process
        still held are dropped and counted; spooled lines of earlier outages stay spooled."""
        if self.refused is not None or self.mode is Mode.CLOSED:
            return
        self.refused = exc
        old_link = self._link
        if old_link is not None:
            self._aborts.append(asyncio.get_running_loop().create_task(old_link.abort()))
        self._link = None
        self.mode = Mode.REFUSED
        self.stats.refused += sum(record.lines for record in self._unacked.values())
        self._unacked.clear()
        self._unacked_bytes = 0
        for lane in self._lanes.values():
            lane.wake.set()
        self._lanes.clear()
        self._settled.set()
        self._room.set()
        self._direct.set()

    # -- spooling -------------------------------------------------------------------------
    def _fail_over(self, exc: BaseException) -> None:
        """Switch to spooling: unacknowledged records go to the spool first, in order."""
        if self.mode in (Mode.SPOOLING, Mode.CLOSED):
            return
        old_link = self._link
        if old_link is not None:
            self._aborts.append(asyncio.get_running_loop().create_task(old_link.abort()))
        self._enter_spooling(str(exc) or type(exc).__name__)

    def _enter_spooling(self, reason: str) -> None:
        log.warning("broker unavailable or spool not empty (%s): spooling to %s", reason, self.spool.dir)
        self.last_error = reason
        self._link = None
        self.mode = Mode.SPOOLING
        self._direct.clear()
        pending = list(self._unacked.values())
        self._unacked.clear()
        self._unacked_bytes = 0
        for lane in self._lanes.values():
            lane.wake.set()
        self._lanes.clear()
        self.spool.refresh()
        try:
            self.spool.append(pending, overflow_ok=self.overflow_ok)
            self.stats.spooled += sum(record.lines for record in pending)
        except (SpoolFull, SpoolError) as err:
            lost = sum(record.lines for record in pending)
            log.error("%d line(s) could not be spooled: %s", lost, err)
            self.stats.not_durable += lost
            self._undurable.extend([str(err)] * lost)
        self._settled.set()
        self._room.set()
        self._spawn(self._recover())

    async def _recover(self) -> None:
        delay = 0.5
        link: KafkaLink | None = None
        try:
            while self.mode is Mode.SPOOLING:
                try:
                    if link is None:
                        link = await KafkaLink.connect(self.settings)
                        delay = 0.5
                    if await self.drainer.drain(link, lambda: self.mode is Mode.SPOOLING):
                        self._go_direct(link)
                        log.info("spool drained; sending directly again")
                        link = None  # it is the direct link now
                        return
                    await asyncio.sleep(_WAIT_FOR_OTHER_DRAINER_S)
                except AccessRefused as exc:
                    self._refuse(exc)
                    return
                except (BrokerUnavailable, OSError) as exc:
                    self.last_error = str(exc)
                    log.debug("broker still unavailable: %s; next attempt in %.1fs", exc, delay)
                    if link is not None:
                        await link.abort()
                        link = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.settings.producer_retry_max_seconds)
        finally:
            if link is not None:
                await link.abort()
