"""The worker process: the Faust app (streams/) plus the Parquet sinks (sinks/) on one loop.

This module is the only importer of ``streams`` (besides tests): it composes the pieces.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import faust
from mode import Service

from config.settings import Settings
from schemas.decoded_events import DecodedEvents
from sinks.kafka_sink import LakeSink, deadletter_sink, usage_sink
from streams.app import build_app


def _sink_service(sink: LakeSink[Any]) -> type[Service]:
    class LakeSinkService(Service):
        """Runs one topic -> Parquet consumer for as long as the app runs; its failure crashes the app."""

        _future: asyncio.Future[None] | None = None

        async def on_start(self) -> None:
            self._future = self.add_future(sink.run())

        async def on_stop(self) -> None:
            sink.stop()
            if self._future is not None:
                await asyncio.wait_for(asyncio.shield(self._future), timeout=30)

    return LakeSinkService


def build_worker_app(settings: Settings, *, with_sink: bool = True, **overrides: Any) -> faust.App:
    """The Faust app with the usage and dead-letter lake sinks attached as services."""
    # The rollup hands the usage sink the events it decoded from the bytes it publishes.
    decoded = DecodedEvents() if with_sink else None
    app = build_app(settings, decoded=decoded, **overrides)
    if with_sink:
        sink, dead_sink = usage_sink(settings, decoded=decoded), deadletter_sink(settings)
        app.service(_sink_service(sink))
        app.service(_sink_service(dead_sink))
        app.lake_sink = sink  # type: ignore[attr-defined]
        app.deadletter_sink = dead_sink  # type: ignore[attr-defined]
    return app


async def run_sinks(settings: Settings) -> None:
    """The usage and dead-letter lake sinks alone (``spendstream worker --sink-only``), until
    SIGTERM or SIGINT: beside workers started with ``--no-sink``, the lake's decoding and
    Parquet writing run on a core of their own instead of the stages' event loop."""
    sinks: list[LakeSink[Any]] = [usage_sink(settings), deadletter_sink(settings)]

    def stop() -> None:
        for sink in sinks:
            sink.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    await asyncio.gather(*(sink.run() for sink in sinks))
