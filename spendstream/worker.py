"""The worker process: the Faust app (streams/) plus the Parquet sinks (sinks/) on one loop.

This module is the only importer of ``streams`` (besides tests): it composes the pieces.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from mode import Service

from config.settings import Settings
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
    app = build_app(settings, **overrides)
    if with_sink:
        sink, dead_sink = usage_sink(settings), deadletter_sink(settings)
        app.service(_sink_service(sink))
        app.service(_sink_service(dead_sink))
        app.lake_sink = sink  # type: ignore[attr-defined]
        app.deadletter_sink = dead_sink  # type: ignore[attr-defined]
    return app
