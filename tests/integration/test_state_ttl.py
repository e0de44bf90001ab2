"""Dedup state is bounded: expired keys leave the worker and its changelogs; totals stay exact.

A tree's first runs are published, their dedup state (streams, ledger identities, windows)
expires and is tombstoned, the worker restarts (the tombstones keep it from coming back),
and the tree's other runs arrive: every scope's totals, kept across the expiry, end exact.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.harness import WorkerProcess
from tests.integration.workload import build_workload, publish_workload
from tests.reliability.faults import on_free_port, worker_metrics

pytestmark = pytest.mark.integration

TTL = 8.0
DEDUP_TABLES = ("streams", "ledger", "windows")


async def state_when(settings: Settings, done: Callable[[dict[str, Any]], bool], wait_s: float = 90) -> Any:
    """The worker's /metrics once ``done(metrics)`` holds."""
    loop = asyncio.get_running_loop()
    deadline, metrics = loop.time() + wait_s, {}
    while loop.time() < deadline:
        with contextlib.suppress(OSError):
            metrics = await worker_metrics(settings)
            if metrics.get("state") and done(metrics):
                return metrics
        await asyncio.sleep(0.5)
    raise TimeoutError(f"worker state never reached the condition: {metrics}")


def dedup_keys(metrics: dict[str, Any]) -> int:
    return int(sum(metrics["state"][name]["keys"] for name in DEDUP_TABLES))


async def test_expired_dedup_state_is_gone_and_totals_stay_exact(topics: Settings, tmp_path: Path) -> None:
    settings = on_free_port(topics.model_copy(update={"dedup_ttl_seconds": TTL, "stream_ttl_seconds": TTL}))
    workload = build_workload(seed=23, roots=1)  # root, c0, c0.g0, c0.g1, c1, c1.g0, c1.g1
    first, second = replace(workload, runs=workload.runs[:4]), replace(workload, runs=workload.runs[4:])
    first_events = 4 * 3
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        await publish_workload(settings, first, tmp_path / "in-1")
        # usage_events is counted by the ledger stage; the rollup (totals) follows it.
        seen = await state_when(
            settings,
            lambda m: m["usage_events"] == first_events and m["state"]["totals"]["keys"] == 4,
        )
        assert seen["state"]["totals"] == {"keys": 4, "expired": 0}
        assert dedup_keys(seen) > 0 or all(seen["state"][name]["expired"] > 0 for name in DEDUP_TABLES)
        expired = await state_when(settings, lambda m: dedup_keys(m) == 0)
        assert all(expired["state"][name]["expired"] > 0 for name in DEDUP_TABLES)
        assert expired["state"]["totals"] == {"keys": 4, "expired": 0}
        assert expired["usage_events"] == first_events

        worker.terminate()
        worker.start()
        # Recovered from the changelogs: the totals, and no expired key (tombstoned).
        recovered = await state_when(settings, lambda m: m["state"]["totals"]["keys"] == 4)
        assert dedup_keys(recovered) == 0

        await publish_workload(settings, second, tmp_path / "in-2")
        latest = await converged_totals(settings, workload)
        await lake_matches(settings, workload)
    finally:
        worker.terminate()
    root = latest["root-17-0"]
    assert root.subtree.events == 7 * 3 and root.children == 2
    assert root.subtree.cost_usd == workload.total_cost
    assert sum((r.own.cost_usd for r in latest.values()), Decimal(0)) == workload.total_cost
