"""Issue 12, "Done when" (d): an unknown model is never silently zero, through a worker
process on the real broker. Its tokens are kept in ``totals`` and the lake with cost 0 and
cost source ``unpriced``; the worker's log names it in ONE warning however many events;
``/metrics`` counts its events; ``spendstream report`` names it in its footer and JSON."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from tests.integration.harness import has_events, latest_totals, read_topic, wait_for_query
from tests.integration.producers_harness import spendstream_async
from tests.integration.usage_lines import CACHE_READ, FRESH_INPUT, OUTPUT, write_run
from tests.reliability.faults import on_free_port, worker_log_on_failure, worker_metrics, worker_process

pytestmark = pytest.mark.integration

UNKNOWN = "claude-imaginary-9"
# Three runs of the unknown model from two CLIs, and one of a known model beside them.
UNKNOWN_RUNS = [
    ("claude-json", "s-imaginary-1"),
    ("claude-json", "s-imaginary-2"),
    ("codex-json", "s-imaginary-3"),
]
KNOWN_RUN = ("claude-json", "claude-sonnet-5", "s-sonnet", "0.264")


async def wait_for_unpriced_metrics(
    settings: Settings, expected: dict[str, int], wait_s: float = 60.0
) -> Any:
    """``/metrics`` once its ``unpriced_events`` are ``expected``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    metrics: dict[str, Any] = {}
    while loop.time() < deadline:
        with contextlib.suppress(OSError):
            metrics = await worker_metrics(settings)
            if metrics.get("unpriced_events") == expected:
                return metrics
        await asyncio.sleep(0.5)
    raise TimeoutError(f"unpriced_events never became {expected}: {metrics}")


async def test_an_unknown_model_keeps_its_tokens_and_is_named_once(topics: Settings, tmp_path: Path) -> None:
    settings = on_free_port(topics)
    folder = tmp_path / "runs"
    for fmt, session in UNKNOWN_RUNS:
        write_run(folder, fmt, UNKNOWN, session)
    fmt, model, known_session, known_cost = KNOWN_RUN
    write_run(folder, fmt, model, known_session)
    unknown_sessions = [session for _fmt, session in UNKNOWN_RUNS]
    log_path = tmp_path / "worker.log"

    with worker_process(settings, log_path) as worker, worker_log_on_failure(worker):
        await publish(settings, PublishRequest((str(folder),)))
        expected_events = dict.fromkeys([*unknown_sessions, known_session], 1)
        totals = await read_topic(settings, settings.topic("totals"), until=has_events(expected_events))
        metrics = await wait_for_unpriced_metrics(settings, {UNKNOWN: len(UNKNOWN_RUNS)})
        rows = await wait_for_query(
            settings,
            "SELECT session_id, model, input_tokens, cache_read_tokens, output_tokens, cost_usd, cost_source "
            "FROM usage ORDER BY session_id",
            until=lambda rows: len(rows) >= len(expected_events),
        )
    log = log_path.read_text(errors="replace")

    latest = latest_totals(totals)
    for session in unknown_sessions:
        own = latest[session]["own"]
        assert (own["input_tokens"], own["cache_read_tokens"], own["output_tokens"]) == (
            FRESH_INPUT,
            CACHE_READ,
            OUTPUT,
        )
        assert Decimal(own["cost_usd"]) == 0
    assert Decimal(latest[known_session]["own"]["cost_usd"]) == Decimal(known_cost)
    assert rows == sorted(
        [(s, UNKNOWN, FRESH_INPUT, CACHE_READ, OUTPUT, Decimal(0), "unpriced") for s in unknown_sessions]
        + [(known_session, model, FRESH_INPUT, CACHE_READ, OUTPUT, Decimal(known_cost), "computed")]
    )
    assert metrics["unpriced_events"] == {UNKNOWN: 3}
    warnings = [line for line in log.splitlines() if UNKNOWN in line]
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0] and "has no price" in warnings[0]

    text = await spendstream_async(settings, "report", "model")
    assert text.returncode == 0, text.stderr
    assert text.stdout.decode().splitlines()[-1] == f"3 events unpriced: {UNKNOWN}"
    document = await spendstream_async(settings, "report", "model", "--json")
    assert document.returncode == 0, document.stderr
    report = orjson.loads(document.stdout)
    assert (report["unpriced_events"], report["unpriced_models"]) == (3, [UNKNOWN])
    assert text.stderr == document.stderr == b""
