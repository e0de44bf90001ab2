"""The webhook sender: retries with backoff, one log line per failure, gives up, never blocks."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from aiohttp import web

from spendstream.webhook import WebhookSender


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def serve(statuses: list[int], received: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    """A local endpoint answering the given statuses in turn (204 once they run out)."""

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=statuses.pop(0) if statuses else 204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook"


async def test_a_failed_post_is_retried_and_each_failure_logged(caplog: pytest.LogCaptureFixture) -> None:
    received: list[dict[str, Any]] = []
    runner, url = await serve([500, 503], received)
    sender = WebhookSender(url, attempts=5, first_delay_s=0.01)
    try:
        sender.start()
        with caplog.at_level(logging.WARNING, logger="spendstream.webhook"):
            sender.send({"rule": "r", "subject": "T1", "threshold": "0.5"})
            await sender.close(wait_s=5)
    finally:
        await runner.cleanup()
    assert received == [{"rule": "r", "subject": "T1", "threshold": "0.5"}] * 3
    failures = [r.getMessage() for r in caplog.records]
    assert len(failures) == 2 and "HTTP 500" in failures[0] and "try 1 of 5" in failures[0]


async def test_an_unreachable_webhook_is_given_up_after_its_last_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = WebhookSender(f"http://127.0.0.1:{free_port()}/hook", attempts=3, first_delay_s=0.01)
    sender.start()
    with caplog.at_level(logging.WARNING, logger="spendstream.webhook"):
        sender.send({"rule": "r", "subject": "T1", "threshold": "1.0"})  # returns at once
        await sender.close(wait_s=5)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and lines[-1].endswith("giving up")
