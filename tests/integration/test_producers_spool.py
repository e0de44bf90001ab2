"""Never lose a line: a broker that is down, then back (a private broker, the shared one is untouched)."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
from pathlib import Path

import pytest

from config import broker
from config.settings import Settings
from producers import shipper as shipper_module
from producers.shipper import Shipper
from tests.integration.conftest import REPO
from tests.integration.producers_harness import (
    SPENDSTREAM,
    accepted_by_high_water,
    cli_env,
    positions_by_stream,
    private_broker,
    read_all,
    spendstream_async,
)

pytestmark = [
    pytest.mark.integration,
    # config.broker.start() lets go of the broker's Popen object while the broker runs.
    pytest.mark.filterwarnings("ignore:Exception ignored in.*Popen:pytest.PytestUnraisableExceptionWarning"),
]
__all__ = ["private_broker"]


def transcript_lines(real_fixtures: Path, count: int) -> list[bytes]:
    source = (real_fixtures / "claude-transcript" / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl").read_bytes()
    return list(itertools.islice(itertools.cycle(source.splitlines()), count))


async def test_lines_published_while_the_broker_is_down_arrive_exactly_once(
    private_broker: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = private_broker
    source = tmp_path / "history.jsonl"
    source.write_bytes(b"\n".join(transcript_lines(real_fixtures, 1000)) + b"\n")
    await asyncio.to_thread(broker.stop, settings)

    published = await spendstream_async(settings, "publish", "--format", "claude-transcript", str(source))
    assert published.returncode == 0, published.stderr
    assert b"1000 left in the spool" in published.stderr
    status = await spendstream_async(settings, "spool", "status")
    assert f"{settings.topic('raw')}: 1 segment(s)".encode() in status.stdout

    await asyncio.to_thread(broker.start, settings)
    drained = await spendstream_async(settings, "spool", "drain")
    assert drained.returncode == 0, drained.stderr

    records = await read_all(settings, expect_at_least=1000)
    (positions,) = positions_by_stream(records).values()
    assert len(records) == 1000
    assert sorted(positions) == list(range(1, 1001))
    assert positions == sorted(positions)  # drained in order
    assert not list((settings.spool_path / settings.topic("raw")).glob("*.seg"))


async def test_a_running_watch_spools_through_an_outage_and_catches_up(
    private_broker: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = private_broker.model_copy(update={"watch_poll_seconds": 0.2})
    folder = tmp_path / "projects"
    folder.mkdir()
    target = folder / "session.jsonl"
    lines = transcript_lines(real_fixtures, 900)
    log = (tmp_path / "watch.log").open("wb")
    watch = await asyncio.create_subprocess_exec(
        *SPENDSTREAM,
        "watch",
        "--format",
        "claude-transcript",
        str(folder),
        env=cli_env(settings),
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        target.write_bytes(b"\n".join(lines[:300]) + b"\n")
        await read_all(settings, expect_at_least=300, quiet_s=0.5)
        await asyncio.to_thread(broker.stop, settings)
        with target.open("ab") as handle:
            handle.write(b"\n".join(lines[300:600]) + b"\n")
        await asyncio.sleep(settings.producer_timeout_seconds + 2)  # fails over, spools
        await asyncio.to_thread(broker.start, settings)
        with target.open("ab") as handle:
            handle.write(b"\n".join(lines[600:]) + b"\n")
        records = await read_all(settings, expect_at_least=900, quiet_s=3)
    finally:
        watch.send_signal(signal.SIGTERM)
        await asyncio.wait_for(watch.wait(), 30)
        log.close()
    assert watch.returncode == 0, (tmp_path / "watch.log").read_text()
    (positions,) = positions_by_stream(records).values()
    assert set(positions) == set(range(1, 901))
    # What the worker keeps (it drops positions at or below a stream's high-water mark):
    assert accepted_by_high_water(positions) == set(range(1, 901))


async def test_a_direct_producer_sweeps_up_what_ended_processes_left(
    topics: Settings, tmp_path: Path, real_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipper_module, "_SWEEP_S", 0.3)
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    long_running = Shipper(settings)
    await long_running.start()
    assert await long_running.wait_drained(10)  # connected, nothing waiting: direct
    source = tmp_path / "left.jsonl"
    source.write_bytes(b"\n".join(transcript_lines(real_fixtures, 200)) + b"\n")
    # Another process on this runner, while it could not reach the broker, left its lines here.
    left = await spendstream_async(
        settings,
        "publish",
        "--format",
        "claude-transcript",
        str(source),
        SPENDSTREAM_BROKER="127.0.0.1:1",
        SPENDSTREAM_PRODUCER_TIMEOUT_SECONDS="1",
    )
    assert b"200 left in the spool" in left.stderr
    try:
        records = await read_all(settings, expect_at_least=200, quiet_s=1)
    finally:
        await long_running.close()
    (positions,) = positions_by_stream(records).values()
    assert positions == list(range(1, 201))
    assert long_running.stats.drained == 200
