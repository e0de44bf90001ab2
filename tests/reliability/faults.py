"""Helpers of the fault-injection tests: the run's size (CI or full), workloads split into
waves, worker processes, the worker's counters and memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import psutil

from config.settings import Settings
from tests.integration.harness import WorkerProcess
from tests.integration.producers_harness import free_port
from tests.integration.workload import Workload, publish_workload

# The CI variant (default) keeps scripts/test.sh within a few minutes on 2 cores; the full
# run (SPENDSTREAM_RELIABILITY_FULL=1) kills more often, publishes more and cycles more.
FULL = os.environ.get("SPENDSTREAM_RELIABILITY_FULL") == "1"


def run_rng() -> random.Random:
    """The run's random source; its seed is printed so a failing run can be replayed with
    SPENDSTREAM_RELIABILITY_SEED."""
    seed = int(os.environ.get("SPENDSTREAM_RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
    print(f"reliability seed: SPENDSTREAM_RELIABILITY_SEED={seed}")
    return random.Random(seed)


def waves(workload: Workload, count: int) -> list[Workload]:
    """The workload's runs in ``count`` consecutive parts, each with the whole expectation."""
    size = -(-len(workload.runs) // count)
    return [replace(workload, runs=workload.runs[i : i + size]) for i in range(0, len(workload.runs), size)]


async def publish_wave(settings: Settings, wave: Workload, folder: Path, index: int) -> int:
    """Publish one wave from its own folder (its files are streams of their own)."""
    return await publish_workload(settings, wave, folder / f"wave-{index}")


def on_free_port(settings: Settings) -> Settings:
    """The settings with a web port free right now: the integration fixtures count ports up
    from 16100 in every pytest session, so two sessions at once (other engineers' tests, a
    full run beside a CI run) hand out the same port and a second worker fails to bind."""
    return settings.model_copy(update={"web_port": free_port()})


def private_worker_settings(private: Settings, tmp_path: Path) -> Settings:
    """A worker's settings on the private broker: its own lake and web port."""
    return on_free_port(private.model_copy(update={"data_dir": tmp_path / "lake", "sink_flush_seconds": 0.5}))


@contextlib.contextmanager
def worker_process(settings: Settings, log_path: Path) -> Iterator[WorkerProcess]:
    """A started ``spendstream worker`` child process, stopped (SIGTERM) at the end."""
    worker = WorkerProcess(settings, log_path)
    worker.start()
    try:
        yield worker
    finally:
        worker.terminate()


@contextlib.contextmanager
def worker_log_on_failure(worker: WorkerProcess) -> Iterator[None]:
    """An assertion or timeout inside says whether the worker runs and ends its log: a
    worker that died or never finished starting is the first thing to rule out."""
    try:
        yield
    except (AssertionError, TimeoutError) as exc:
        state = "running" if worker.alive() else f"exited ({worker.proc and worker.proc.returncode})"
        tail = worker.log_path.read_text(errors="replace")[-6000:] if worker.log_path.exists() else ""
        raise AssertionError(f"{exc}\nworker {state}; its log ends:\n{tail}") from None


def assert_alive(worker: WorkerProcess) -> None:
    assert worker.alive(), worker.log_path.read_text(errors="replace")[-4000:]


def pid_of(worker: WorkerProcess) -> int:
    """The pid of the worker itself: the child of ``spendstream worker``'s supervisor."""
    assert worker.proc is not None
    children = psutil.Process(worker.proc.pid).children()
    return children[0].pid if children else worker.proc.pid


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # local worker only
        return orjson.loads(response.read())


async def worker_metrics(settings: Settings) -> dict[str, Any]:
    """``GET /metrics`` of the worker listening on ``settings.web_port``."""
    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    metrics: dict[str, Any] = await asyncio.to_thread(_get_json, url)
    return metrics


async def wait_for_metrics(settings: Settings, lines: int, wait_s: float = 120.0) -> dict[str, Any]:
    """The worker's counters once its line outcomes add up to ``lines`` (they never exceed it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    metrics: dict[str, Any] = {}
    while loop.time() < deadline:
        with contextlib.suppress(OSError):
            metrics = await worker_metrics(settings)
            if sum(metrics["records"].values()) >= lines:
                return metrics
        await asyncio.sleep(0.5)
    raise TimeoutError(f"line outcomes never reached {lines}: {metrics}")
