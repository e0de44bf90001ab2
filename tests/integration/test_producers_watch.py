"""`spendstream watch` on a growing transcript, killed and restarted mid-way (real broker)."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from producers.emit import file_stream_id
from schemas.sources import PARSERS, BadLine, LineContext
from tests.integration.conftest import REPO
from tests.integration.producers_harness import (
    SPENDSTREAM,
    accepted_by_high_water,
    cli_env,
    header,
    positions_by_stream,
    read_all,
)

pytestmark = pytest.mark.integration
TRANSCRIPT = "claude-transcript/132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"


async def start_watch(settings: Settings, folder: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as handle:
        return await asyncio.create_subprocess_exec(
            *SPENDSTREAM,
            "watch",
            str(folder),
            env=cli_env(settings),
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


async def grow(path: Path, lines: list[bytes], *, pause: float = 0.02) -> None:
    """Append the lines in chunks of uneven size, so most chunks end in the middle of a line."""
    data = b"".join(line + b"\n" for line in lines)
    sizes = itertools.cycle([1_000, 7_000, 2_500, 15_000, 333])
    cut = 0
    while cut < len(data):
        end = min(len(data), cut + next(sizes))
        with path.open("ab") as handle:
            handle.write(data[cut:end])
        cut = end
        await asyncio.sleep(pause)


def parse_all(fmt: str, values: list[bytes]) -> list[Any]:
    state, out = None, []
    when = datetime(2026, 1, 6, tzinfo=UTC)
    for position, value in enumerate(values, start=1):
        try:
            observations, state = PARSERS[fmt](value, LineContext(fmt, "r", "s", position, when), state)
            out.append(observations)
        except BadLine as exc:
            out.append(exc.reason)
    return out


async def test_watch_killed_and_restarted_publishes_every_line_at_its_position(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state", "watch_poll_seconds": 0.1})
    folder = tmp_path / "projects" / "-work-demo"
    (folder / "subagents").mkdir(parents=True)
    main, sub = folder / "session.jsonl", folder / "subagents" / "agent-a1b2.jsonl"
    lines = (real_fixtures / TRANSCRIPT).read_bytes().splitlines() * 4  # 2,144 lines, 6 MB
    log = tmp_path / "watch.log"

    half = len(lines) // 3
    watch = await start_watch(settings, folder, log)
    await grow(main, lines[:half])
    # A big burst, and a kill while the watcher is busy with it: some of it is sent, none saved.
    with main.open("ab") as handle:
        handle.write(b"".join(line + b"\n" for line in lines[half : half + 1000]))
    await asyncio.sleep(0.16)  # usually while the burst is sent and not yet saved
    watch.send_signal(signal.SIGKILL)
    await watch.wait()
    watch = await start_watch(settings, folder, log)
    try:
        await grow(main, lines[half + 1000 :])
        await grow(sub, lines[:40])
        records = await read_all(settings, expect_at_least=len(lines) + 40, quiet_s=2)
    finally:
        watch.send_signal(signal.SIGTERM)
        await asyncio.wait_for(watch.wait(), 30)
    assert watch.returncode == 0, log.read_text()
    # Lines sent but not saved before the kill come again: more records than lines is fine.
    assert len(records) >= len(lines) + 40

    by_stream = positions_by_stream(records)
    main_id = file_stream_id("test-runner", main, lines[0])
    sub_id = file_stream_id("test-runner", sub, lines[0])
    assert {stream: set(p) for stream, p in by_stream.items()} == {
        main_id: set(range(1, len(lines) + 1)),
        sub_id: set(range(1, 41)),
    }
    assert accepted_by_high_water(by_stream[main_id]) == set(range(1, len(lines) + 1))
    assert {header(r, "ss-format") for r in records} == {"claude-transcript"}

    # What the worker keeps of the main stream parses exactly like the original file.
    kept: dict[int, bytes] = {}
    for record in records:
        if header(record, "ss-stream") == main_id:
            kept.setdefault(int(header(record, "ss-pos")), record.value)
    values = [kept[position] for position in sorted(kept)]
    assert parse_all("claude-transcript", values) == parse_all("claude-transcript", lines)
