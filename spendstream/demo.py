"""The newcomer's first run: broker, worker, bundled sample, per-session costs from DuckDB."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

from config import broker
from config.kafka import ensure_topics
from config.settings import Settings
from producers.publish import PublishRequest, publish
from schemas.ledger import MemoryLedger
from schemas.sources import PARSERS, BadLine, LineContext
from sinks.catalog import run_query
from spendstream.table import render_table

SAMPLE_FORMAT = "claude-json"
SAMPLE_NAME = "claude-json-sample.jsonl"


class DemoError(RuntimeError):
    """The demo could not complete; the message says what to look at."""


def expected_costs(sample: Path) -> dict[str, Decimal]:
    """Per-session cost the sample must produce: the worker's own parser and ledger, offline."""
    costs: dict[str, Decimal] = {}
    ledger = MemoryLedger()
    for position, line in enumerate(sample.read_bytes().splitlines(), start=1):
        context = LineContext(SAMPLE_FORMAT, "demo", "demo", position, datetime.now(UTC))
        try:
            observations, _ = PARSERS[SAMPLE_FORMAT](line, context, None)
        except BadLine:
            continue
        for event in filter(None, (ledger.observe(obs, context) for obs in observations)):
            costs[event.session_id] = costs.get(event.session_id, Decimal(0)) + event.cost_usd
    return costs


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    log_path = settings.state_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "spendstream.cli", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=os.environ.copy(),
        )


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _lake_costs(settings: Settings, sessions: list[str]) -> dict[str, Decimal]:
    _, rows = run_query(
        settings.data_dir,
        "SELECT session_id, sum(cost_usd) FROM usage WHERE list_contains(?, session_id) GROUP BY 1",
        [sessions],
    )
    return {row[0]: Decimal(row[1]) for row in rows}


def _wait_for_lake(
    settings: Settings, expected: dict[str, Decimal], proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    sessions = sorted(expected)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(
                f"the worker exited ({proc.returncode}); see {settings.state_dir / 'demo-worker.log'}"
            )
        landed = _lake_costs(settings, sessions)
        if all(landed.get(s, Decimal(0)) >= cost for s, cost in expected.items()):
            return
        time.sleep(0.5)
    raise DemoError(f"the sample's events did not reach the lake within {timeout:.0f}s")


def session_table(settings: Settings, sessions: list[str]) -> str:
    columns, rows = run_query(
        settings.data_dir,
        """
        SELECT session_id, count(*) AS events, string_agg(DISTINCT coalesce(model, '?'), ',') AS models,
               sum(input_tokens) AS input, sum(output_tokens) AS output,
               sum(cache_write_5m_tokens + cache_write_1h_tokens) AS cache_write,
               sum(cache_read_tokens) AS cache_read, sum(cost_usd) AS cost_usd
        FROM usage WHERE list_contains(?, session_id) GROUP BY session_id ORDER BY cost_usd DESC
        """,
        [sessions],
    )
    return render_table(columns, rows)


def run_demo(settings: Settings, *, timeout: float, keep_worker: bool) -> str:
    try:
        state = broker.start(settings)
    except broker.BrokerError as exc:
        raise DemoError(str(exc)) from exc
    print(state.describe(), file=sys.stderr)
    asyncio.run(ensure_topics(settings))
    with resources.as_file(resources.files("spendstream").joinpath("samples", SAMPLE_NAME)) as sample:
        expected = expected_costs(sample)
        proc = _start_worker(settings)
        try:
            print("worker started; publishing the sample ...", file=sys.stderr)
            request = PublishRequest(paths=(str(sample),), source=SAMPLE_FORMAT, labels={"demo": "1"})
            summary = asyncio.run(publish(settings, request))
            print(
                f"published {summary.lines} lines (the last one is cut short on purpose: it goes to the "
                "dead-letter topic, not to the totals); waiting for the lake ...",
                file=sys.stderr,
            )
            _wait_for_lake(settings, expected, proc, timeout)
        finally:
            if not keep_worker:
                _stop_worker(proc)
    table = session_table(settings, sorted(expected))
    return f"Per-session cost of the sample (DuckDB over {settings.data_dir}/usage):\n\n{table}"
