"""A broker that goes away mid-stream (a private broker: the shared one is never touched).

1. The broker restarts while the worker runs: the worker rides it out, totals are exact.
   Lost while the worker starts, the worker process exits (Faust declares its changelog
   topics once: NodeNotReadyError ends it) and ``spendstream worker`` starts it again.
2. A producer publishes while the broker is down: its lines wait in the spool, are drained
   when the broker is back, and the totals are exact.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config import broker
from config.kafka import ensure_topics
from config.settings import Settings
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.producers_harness import spendstream_async
from tests.integration.workload import build_workload
from tests.reliability.faults import (
    FULL,
    assert_alive,
    private_worker_settings,
    publish_wave,
    run_rng,
    wait_for_metrics,
    waves,
    worker_process,
)

pytestmark = [
    pytest.mark.reliability,
    # config.broker.start() lets go of the broker's Popen object while the broker runs.
    pytest.mark.filterwarnings("ignore:Exception ignored in.*Popen:pytest.PytestUnraisableExceptionWarning"),
]

RESTARTS = 2 if FULL else 1


async def test_broker_restarted_mid_stream_ends_exact(private_broker: Settings, tmp_path: Path) -> None:
    rng = run_rng()
    settings = private_worker_settings(private_broker, tmp_path)
    await ensure_topics(settings)
    workload = build_workload(seed=79, roots=4 if FULL else 2, runs=4 if FULL else 3)
    parts = waves(workload, RESTARTS + 1)
    with worker_process(settings, tmp_path / "worker.log") as worker:
        published = 0
        for index, wave in enumerate(parts[:-1]):
            published += await publish_wave(settings, wave, tmp_path / "in", index)
            # Running (a broker lost during start-up is the next test): normalize has seen the
            # wave, the ledger and rollup stages are somewhere in it.
            await wait_for_metrics(settings, published)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            await asyncio.to_thread(broker.stop, settings)
            await asyncio.sleep(rng.uniform(1.0, 5.0))
            await asyncio.to_thread(broker.start, settings)
        await publish_wave(settings, parts[-1], tmp_path / "in", len(parts) - 1)
        await converged_totals(settings, workload, wait_s=240)
        await lake_matches(settings, workload, wait_s=120)
        assert_alive(worker)


async def test_broker_lost_while_the_worker_starts_ends_exact(
    private_broker: Settings, tmp_path: Path
) -> None:
    settings = private_worker_settings(private_broker, tmp_path)
    await ensure_topics(settings)
    workload = build_workload(seed=89, roots=1, runs=2)
    with worker_process(settings, tmp_path / "worker.log") as worker:
        for _ in range(600):  # next after this line: the worker declares its changelog topics
            if "TableManager]: Starting" in worker.log_path.read_text(errors="replace"):
                break
            await asyncio.sleep(0.05)
        await asyncio.to_thread(broker.stop, settings)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(broker.start, settings)
        await publish_wave(settings, workload, tmp_path / "in", 0)
        assert_alive(worker)
        await converged_totals(settings, workload, wait_s=90)


async def test_producer_spools_through_an_outage_and_totals_end_exact(
    private_broker: Settings, tmp_path: Path
) -> None:
    settings = private_worker_settings(private_broker, tmp_path)
    await ensure_topics(settings)
    workload = build_workload(seed=83, roots=3 if FULL else 2, runs=4 if FULL else 2)
    before, during, after = waves(workload, 3)
    spool = settings.spool_path / settings.topic("raw")
    with worker_process(settings, tmp_path / "worker.log") as worker:
        published = await publish_wave(settings, before, tmp_path / "in", 0)
        await wait_for_metrics(settings, published)  # running: start-up is the test above
        await asyncio.to_thread(broker.stop, settings)
        outage = settings.model_copy(update={"producer_timeout_seconds": 1.0})
        await publish_wave(outage, during, tmp_path / "in", 1)
        assert list(spool.glob("*.seg")), "nothing was spooled while the broker was down"
        await asyncio.to_thread(broker.start, settings)
        drained = await spendstream_async(settings, "spool", "drain")
        assert drained.returncode == 0, drained.stderr
        assert not list(spool.glob("*.seg"))
        await publish_wave(settings, after, tmp_path / "in", 2)
        await converged_totals(settings, workload, wait_s=240)
        await lake_matches(settings, workload, wait_s=120)
        assert_alive(worker)
