"""The worker consumer's fetch wait: SPENDSTREAM_FETCH_MAX_WAIT_MS, Faust's 1.5 s by default."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import aiokafka
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from config.settings import Settings
from streams.runner import fetch_wait
from streams.runner.faust_app import new_app


async def built_wait(settings: Settings) -> int:
    # Built, not started: no broker is needed to read what the Fetcher will be given.
    app = new_app(settings)
    thread = app.consumer._thread  # type: ignore[attr-defined]
    assert isinstance(thread, AIOKafkaConsumerThread)
    consumer = thread._create_consumer(loop=asyncio.get_running_loop())
    try:
        return int(consumer._fetch_max_wait_ms)
    finally:
        await consumer.stop()
        thread.thread_loop.close()  # the consumer thread's own loop, never started here


async def test_the_default_is_fausts_wait(tmp_path: Path) -> None:
    settings = Settings(broker="127.0.0.1:1", state_dir=tmp_path)
    assert settings.fetch_max_wait_ms == fetch_wait.FAUST_WAIT_MS == 1500
    assert await built_wait(settings) == 1500


async def test_the_setting_reaches_the_consumer(tmp_path: Path) -> None:
    assert await built_wait(Settings(broker="127.0.0.1:1", state_dir=tmp_path, fetch_max_wait_ms=100)) == 100


def test_aiokafka_and_faust_still_work_as_the_patch_assumes() -> None:
    # The patch sets a private attribute: an aiokafka that no longer passes it on must fail here.
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    # And Faust still hard-codes the value the default stands for.
    wrapped = AIOKafkaConsumerThread._create_worker_consumer.__wrapped__  # type: ignore[attr-defined]
    assert f"fetch_max_wait_ms={fetch_wait.FAUST_WAIT_MS}" in inspect.getsource(wrapped)
