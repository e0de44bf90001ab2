"""The worker process: the Faust app (streams/) plus the Parquet sink (sinks/) on one loop.

This module is the only importer of ``streams`` (besides tests): it composes the pieces.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from mode import Service

from sinks.kafka_sink import UsageSink
from spendstream.settings import Settings
from streams.app import build_app


def build_worker_app(settings: Settings, *, with_sink: bool = True, **overrides: Any) -> faust.App:
    """The Faust app with the lake sink attached as a service started and stopped with it."""
    app = build_app(settings, **overrides)
    if with_sink:
        sink = UsageSink(settings)

        class LakeSink(Service):
            """Runs the usage -> Parquet consumer for as long as the app runs."""

            _task: asyncio.Task[None] | None = None

            async def on_start(self) -> None:
                self._task = asyncio.ensure_future(sink.run())

            async def on_stop(self) -> None:
                sink.stop()
                if self._task is not None:
                    await asyncio.wait_for(self._task, timeout=30)

        app.service(LakeSink)
        app.lake_sink = sink  # type: ignore[attr-defined]
    return app
