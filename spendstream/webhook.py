"""POST alert records to a webhook without ever holding up the consumer.

Alerts wait in a queue that one task drains. Each POST is tried ``attempts`` times with
doubling backoff (0.5 s, 1 s, 2 s, ...; a 5-s timeout each), one log line per failed try;
after the last one the alert is given up on (it stays on the alerts topic, which is the
record). Delivery is at most once per alert: the service emits an alert once, to Kafka
first, then here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
import orjson

log = logging.getLogger(__name__)


class WebhookSender:
    def __init__(
        self, url: str, attempts: int = 5, first_delay_s: float = 0.5, timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.first_delay_s = first_delay_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain())

    def send(self, record: dict[str, Any]) -> None:
        self._queue.put_nowait(record)

    async def close(self, wait_s: float = 10.0) -> None:
        """Deliver what is queued for up to ``wait_s``, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), wait_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if not self._queue.empty():
            log.warning("webhook: %d alert(s) not delivered before stopping", self._queue.qsize())

    async def _drain(self) -> None:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            while True:
                record = await self._queue.get()
                try:
                    await self._post(session, record)
                finally:
                    self._queue.task_done()

    async def _post(self, session: aiohttp.ClientSession, record: dict[str, Any]) -> None:
        body = orjson.dumps(record)
        headers = {"Content-Type": "application/json"}
        delay = self.first_delay_s
        for attempt in range(1, self.attempts + 1):
            try:
                async with session.post(self.url, data=body, headers=headers) as response:
                    if response.status < 300:
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = repr(exc)
            final = attempt == self.attempts
            log.warning(
                "webhook: POST of alert %s|%s|%s failed (%s), try %d of %d%s",
                record.get("rule"),
                record.get("subject"),
                record.get("threshold"),
                problem,
                attempt,
                self.attempts,
                "; giving up" if final else f"; again in {delay:.1f}s",
            )
            if not final:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
