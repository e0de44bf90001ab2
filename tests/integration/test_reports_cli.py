"""Issue 14 items 2 and 3 on the real broker: ``report label`` over labelled runs, and every
report kind ``--from`` the files equal to the same report over the lake they made."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from schemas.ledger import MemoryLedger
from schemas.usage import UsageEvent
from sinks.catalog import run_query
from sinks.report_kinds import REPORT_KINDS
from spendstream.local_parse import LocalParser, modified_at
from spendstream.local_report import source_files
from tests.integration.harness import running_worker, wait_for_query
from tests.integration.producers_harness import spendstream

pytestmark = pytest.mark.integration

T42_DEVELOPER = ("--label", "task=T42", "--label", "agent=developer")


def claude_result(path: Path, session: str, tokens_in: int, tokens_out: int, cost: str) -> Path:
    """A ``claude -p --output-format json`` result (tokens and the CLI's reported cost)."""
    usage = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    line = {"type": "result", "subtype": "success", "session_id": session, "usage": usage}
    path.write_bytes(orjson.dumps({**line, "total_cost_usd": float(cost)}) + b"\n")
    return path


async def cli(settings: Settings, *args: str) -> str:
    """``spendstream ARGS`` as a child process (off the worker's event loop); its stdout."""
    result: subprocess.CompletedProcess[bytes] = await asyncio.to_thread(spendstream, settings, *args)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


async def wait_for_events(settings: Settings, count: int) -> None:
    await wait_for_query(settings, "SELECT count(*) FROM usage", until=lambda r: r[0][0] >= count, wait_s=180)
    rows = run_query(settings.data_dir, "SELECT count(*) FROM usage")[1]
    assert rows == [(count,)]


async def test_label_report_prints_seed_001_lines(topics: Settings, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    developer = claude_result(runs / "developer.json", "s-developer", 45_200, 12_100, "0.21")
    reviewer = claude_result(runs / "reviewer.json", "s-reviewer", 12_100, 3_100, "0.09")
    other_task = claude_result(runs / "other.json", "s-other", 99_000, 9_000, "4.5")
    async with running_worker(topics):
        await cli(topics, "publish", *T42_DEVELOPER, str(developer))
        await cli(topics, "publish", "--label", "task=T42", "--label", "agent=reviewer", str(reviewer))
        await cli(topics, "publish", "--label", "task=T43", "--label", "agent=developer", str(other_task))
        await wait_for_events(topics, 3)
    out = await cli(topics, "report", "label", "agent", "--where", "task=T42", "--format", "line")
    assert out.splitlines() == [
        "Total · 57.3k in / 15.2k out · $0.30",
        "Developer · 45.2k in / 12.1k out · $0.21",
        "Reviewer · 12.1k in / 3.1k out · $0.09",
    ]
    everything = await cli(topics, "report", "label", "agent", "--format", "line")
    assert everything.splitlines()[:2] == [
        "Total · 156.3k in / 24.2k out · $4.80",
        "Developer · 144.2k in / 21.1k out · $4.71",
    ]


def date_timeless_files(settings: Settings, files: list[Path]) -> None:
    """Give each file the time the lake dated its events by, when its lines carry none.

    Such a line (``claude -p`` JSON, ``codex exec``, a stream-json line without a
    ``timestamp``) takes its publish time in the lake and its file's modification time with
    ``--from``: the one thing a file does not hold. Each of these files has one usage line.
    """
    for file in files:
        events: list[UsageEvent] = []
        LocalParser(MemoryLedger(), settings.runner_id, on_event=events.append).parse_file(file, "auto")
        if not events or any(event.event_time != modified_at(file) for event in events):
            continue  # dated by its lines
        sessions = sorted({event.session_id for event in events})
        _, rows = run_query(
            settings.data_dir,
            "SELECT DISTINCT event_time FROM usage WHERE list_contains(?, session_id)",
            [sessions],
        )
        assert len(events) == len(rows) == 1, f"{file}: several timeless events, no single time fits"
        published: datetime = rows[0][0]
        epoch_us = (published - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        os.utime(file, ns=(epoch_us * 1000, epoch_us * 1000))


async def test_every_report_from_the_files_equals_the_lakes(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    files = tmp_path / "files"
    shutil.copytree(real_fixtures, files / "real")
    (files / "runs").mkdir()
    claude_result(files / "runs" / "developer.json", "s-developer", 45_200, 12_100, "0.21")
    claude_result(files / "runs" / "developer-2.json", "s-developer-2", 1_500, 700, "0.05")
    paths = [str(files / "real"), str(files / "runs")]
    # Every file published with the same labels, which --from gives every file it reads.
    async with running_worker(topics):
        await cli(topics, "publish", *T42_DEVELOPER, *paths)
        await wait_for_events(topics, 197)  # 195 in the real captures (SOURCES.md), 2 runs
    date_timeless_files(topics, [file for file, _ in source_files(paths)])

    async def both(*args: str) -> tuple[Any, Any]:
        lake = orjson.loads(await cli(topics, "report", *args, "--json"))
        local = orjson.loads(await cli(topics, "report", *args, "--json", "--from", *paths, *T42_DEVELOPER))
        return lake, local

    for kind in REPORT_KINDS:
        args = [kind, "agent"] if kind == "label" else [kind]
        lake, local = await both(*args)
        assert local == lake, kind
        assert lake["rows"], kind
    lake, local = await both(
        "session", "--where", "task=T42", "--since", "2026-01-06", "--until", "2026-01-06"
    )
    assert local == lake and [row["session_id"] for row in lake["rows"]] == [
        "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
    ]
    lake, local = await both("daily")
    assert lake["totals"]["cost_usd"] == "10.9413817"  # 10.6813817 + 0.21 + 0.05
    assert lake["totals"]["events"] == 197
