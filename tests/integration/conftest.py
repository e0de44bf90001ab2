"""Integration fixtures: a real Apache Kafka broker and per-test topic names.

The broker is the project's own local KRaft broker (``spendstream broker start``), started
once per test session unless SPENDSTREAM_BROKER points at an existing cluster, and stopped
at the end if this session started it. Each test gets a unique topic prefix (so topics,
consumer groups and Faust app ids never collide) and its own lake directory.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from config import broker
from config.kafka import ensure_topics
from config.settings import Settings

if TYPE_CHECKING:
    from tests.integration.secure_harness import SecureBroker

REPO = Path(__file__).resolve().parents[2]


def _free_web_ports() -> Iterator[int]:
    """Web ports for workers: below the ephemeral range (Kafka clients' own sockets never take
    them), from a random start per pytest session, skipping any port bound right now, so two
    sessions at once (a CI run beside someone's tests) do not hand out the same port."""
    start = random.randrange(11000, 30000)
    for port in range(start, 32000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        yield port


_web_ports = _free_web_ports()


def _base_settings(**overrides: Any) -> Settings:
    env_state = os.environ.get("SPENDSTREAM_STATE_DIR")
    state_dir = Path(env_state) if env_state else REPO / ".spendstream"
    return Settings(state_dir=state_dir, **overrides)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """Bootstrap servers of a running real broker (started here if needed)."""
    settings = _base_settings()
    before = broker.status(settings)
    state = broker.start(settings)
    yield state.bootstrap
    if state.managed and not before.running and os.environ.get("SPENDSTREAM_KEEP_BROKER") != "1":
        broker.stop(settings)


@pytest.fixture
def settings(kafka_broker: str, tmp_path: Path) -> Settings:
    """Settings for one test: unique topic prefix, a lake under tmp_path, a free web port."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return _base_settings(
        topic_prefix=prefix,
        data_dir=tmp_path / "lake",
        web_port=next(_web_ports),
        sink_flush_seconds=0.5,
        runner_id="test-runner",
    )


@pytest.fixture
async def topics(settings: Settings) -> AsyncIterator[Settings]:
    """The test's settings with all of spendstream's topics created."""
    await ensure_topics(settings)
    yield settings


@pytest.fixture(scope="session", name="secured")
def secured_broker_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """One secured local broker (TLS + SCRAM + ACLs) for every test module that asks for it."""
    from tests.integration.secure_harness import secured_broker  # it imports this module

    yield from secured_broker(tmp_path_factory)
