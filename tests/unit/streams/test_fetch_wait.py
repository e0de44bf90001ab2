"""The worker's consumer lets the broker hold a fetch 100 ms, not Faust's 1.5 s (fetch_wait.py)."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import aiokafka
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from config.settings import Settings
from streams.runner import fetch_wait
from streams.runner.faust_app import new_app


async def test_the_worker_consumer_is_built_with_the_short_fetch_wait(tmp_path: Path) -> None:
    # Built, not started: no broker is needed to read what the Fetcher will be given.
    app = new_app(Settings(broker="127.0.0.1:1", state_dir=tmp_path))
    thread = app.consumer._thread  # type: ignore[attr-defined]
    assert isinstance(thread, AIOKafkaConsumerThread)
    consumer = thread._create_consumer(loop=asyncio.get_running_loop())
    try:
        assert consumer._fetch_max_wait_ms == fetch_wait.FETCH_MAX_WAIT_MS == 100
    finally:
        await consumer.stop()
        thread.thread_loop.close()  # the consumer thread's own loop, never started here


def test_install_is_idempotent() -> None:
    fetch_wait.install()
    first = AIOKafkaConsumerThread._create_worker_consumer
    fetch_wait.install()
    assert AIOKafkaConsumerThread._create_worker_consumer is first


def test_aiokafka_hands_the_attribute_to_its_fetcher() -> None:
    # The patch sets a private attribute: an aiokafka that no longer passes it on must fail here.
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    # And Faust still hard-codes the value we replace (else the patch may be dropped).
    source = inspect.getsource(fetch_wait.AIOKafkaConsumerThread._create_worker_consumer.__wrapped__)  # type: ignore[attr-defined]
    assert "fetch_max_wait_ms=1500" in source
