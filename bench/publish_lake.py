"""The whole pipeline on a generated Claude Code history: first ``publish`` -> exact lake.

Run: ``python -m bench.publish_lake HISTORY [--profile-worker OUT] [--profile-publish OUT]``
(``HISTORY`` made by ``python -m bench.gen_history HISTORY --target 1G``).

A fresh worker (``spendstream worker``, a child process) is started on fresh topics and
waits, assigned, before the clock starts; then ``spendstream publish HISTORY/projects``
runs as a child. The pipeline time is from the start of ``publish`` to the mtime of the
newest Parquet file, read once ``/metrics`` shows every published line with an outcome
and the stages idle, and no lake file changed for 4 s. Then ``spendstream report session
--json`` (not timed) must give every session of the generator's ``expected.json`` its
exact tokens and cost, and the worker's usage events must equal the lake's rows.

``--profile-worker`` / ``--profile-publish`` run py-spy (raw stacks, 100 Hz) on the
worker / the publisher; the summary (bench/profile.py) is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.ccusage_compare import agreement, load_expected
from bench.kafka_tools import REPO, delete_prefix, fresh_settings, remove_tree, start_worker, worker_metrics
from bench.pipeline import _lake_settled
from bench.profile import PY_SPY, Recorder, summarize
from bench.spendstream_side import _from_report_rows
from config.kafka import ensure_topics
from config.settings import Settings
from tests.integration.harness import WorkerProcess, settings_env
from tests.integration.producers_harness import free_port


def _lines_done(metrics: dict[str, Any]) -> int:
    return sum(int(v) for v in metrics.get("records", {}).values())


async def summed_metrics(each: list[Settings], last: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' /metrics counters added up (the last answer of a worker that did not answer)."""
    for index, settings in enumerate(each):
        last[index] = await worker_metrics(settings) or last[index]
    total: dict[str, Any] = {"records": {}, "usage_events": 0, "rollup_deltas": 0, "stages": {}}
    for metrics in last:
        for kind, count in metrics.get("records", {}).items():
            total["records"][kind] = total["records"].get(kind, 0) + count
        total["usage_events"] += metrics.get("usage_events", 0)
        total["rollup_deltas"] += metrics.get("rollup_deltas", 0)
        for name, stage in metrics.get("stages", {}).items():
            into = total["stages"].setdefault(name, {})
            for key, value in stage.items():
                into[key] = round(into.get(key, 0) + value, 3)
    return total


async def _wait_idle(each: list[Settings], lines: int, timeout_s: float) -> dict[str, Any]:
    """The workers' summed /metrics once every line has an outcome and nothing moved for 3 s."""
    deadline = time.perf_counter() + timeout_s
    last: tuple[Any, ...] = ()
    stable_since = time.perf_counter()
    answers: list[dict[str, Any]] = [{} for _ in each]
    metrics: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        metrics = await summed_metrics(each, answers)
        progress = (_lines_done(metrics), metrics.get("usage_events"), metrics.get("rollup_deltas"))
        if progress != last:
            last, stable_since = progress, time.perf_counter()
        done = progress[0] >= lines and progress[2] == progress[1]
        if done and time.perf_counter() - stable_since > 3.0:
            return metrics
        await asyncio.sleep(0.25)
    raise TimeoutError(f"pipeline incomplete after {timeout_s}s: {metrics}")


async def start_workers(each: list[Settings], tmp: Path, flags: tuple[str, ...]) -> list[WorkerProcess]:
    """One worker (start_worker: assigned every raw partition), or several that share them."""
    if len(each) == 1 and not flags:
        return [await start_worker(each[0], tmp / "worker.log")]
    await ensure_topics(each[0])
    workers = [WorkerProcess(s, tmp / f"worker{n}.log", "--no-restart", *flags) for n, s in enumerate(each)]
    for worker in workers:
        worker.start()
    deadline = time.perf_counter() + 180
    while time.perf_counter() < deadline:
        if not all(w.alive() for w in workers):
            raise RuntimeError(f"a worker exited early, see {tmp}")
        owned = [w.raw_partitions() for w in workers]
        if (
            all(owned)
            and len(set().union(*owned)) == each[0].partitions
            and sum(map(len, owned)) == each[0].partitions
        ):
            await asyncio.sleep(3.0)  # the lake sinks' consumers join their group alongside
            return workers
        await asyncio.sleep(0.5)
    raise TimeoutError(f"workers not assigned, see {tmp}")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the publisher, once it exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _publish_cmd(history: Path, profile: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "spendstream.cli", "publish", "--no-progress", str(history / "projects")]
    if profile is None:
        return cmd
    return [str(PY_SPY), "record", "-f", "raw", "-r", "100", "-o", str(profile), "--", *cmd]


async def run(args: argparse.Namespace) -> int:
    want, info = load_expected(args.history)
    settings, tmp = fresh_settings("pl")
    settings = settings.model_copy(update={"partitions": args.partitions})
    env = settings_env(settings)
    each = [settings] + [
        settings.model_copy(update={"web_port": free_port(), "state_dir": tmp / f"state{n}"})
        for n in range(1, args.workers)
    ]
    workers: list[WorkerProcess] = []
    sink: WorkerProcess | None = None
    try:
        workers = await start_workers(each, tmp, ("--no-sink",) if args.sink_process else ())
        if args.sink_process:
            sink = WorkerProcess(settings, tmp / "sink.log", "--no-restart", "--sink-only")
            sink.start()
            await asyncio.sleep(5.0)  # its consumers join the sink groups
        worker = workers[0]
        assert worker.proc is not None
        recorder = Recorder(worker.proc.pid, args.profile_worker) if args.profile_worker else None
        processes = [psutil.Process(w.proc.pid) for w in workers if w.proc is not None]
        processes += [psutil.Process(sink.proc.pid)] if sink is not None and sink.proc is not None else []
        cpu_before = sum(_cpu(p) for p in processes)
        children_before = _children_cpu()
        try:
            started = time.time()
            publish = await asyncio.create_subprocess_exec(
                *_publish_cmd(args.history, args.profile_publish), env=env, cwd=REPO,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            _, err = await publish.communicate()
            publish_s = time.time() - started
            publish_cpu = _children_cpu() - children_before
            if publish.returncode != 0:
                print(f"publish exit {publish.returncode}: {err.decode(errors='replace')[-500:]}")
                return 1
            metrics = await _wait_idle(each, info["lines"], args.timeout)
            newest = await _lake_settled(settings)
            worker_cpu = sum(_cpu(p) for p in processes) - cpu_before
            if recorder is not None:
                recorder.stop()
        finally:
            for running in workers:
                running.terminate()
            if sink is not None:
                sink.terminate()
        report = subprocess.run(  # noqa: ASYNC221 - the worker is gone, nothing else runs
            [sys.executable, "-m", "spendstream.cli", "report", "session", "--json"],
            env=env, cwd=REPO, capture_output=True, check=True,
        )  # fmt: skip
        got = _from_report_rows(orjson.loads(report.stdout)["rows"])
        tokens_ok, cost_ok, notes = agreement(got, want)
        pipeline_s = newest - started
        mib = info["bytes"] / 2**20
        stages = {
            name: f"{s['records']} rec/{s['batches']} batches/{s['seconds']} s "
            f"({s['waiting_for_acks_seconds']} s acks)"
            for name, s in metrics.get("stages", {}).items()
        }
        print(f"history: {info['lines']:,} lines, {mib:,.0f} MiB, {len(want)} sessions")
        where = (
            "the lake sink in a process of its own" if args.sink_process else "the lake sink in the worker"
        )
        print(f"{args.workers} worker(s), {args.partitions} partitions, {where}")
        print(f"publish: {publish_s:.1f} s; publish -> last lake file: {pipeline_s:.1f} s")
        print(f"  = {info['lines'] / pipeline_s:,.0f} lines/s, {mib / pipeline_s:,.0f} MiB/s")
        print(f"CPU: publish {publish_cpu:.1f} s, worker(s) {worker_cpu:.1f} s (user + system)")
        print(f"outcomes {metrics.get('records')}, usage events {metrics.get('usage_events')}")
        print(f"stages {stages}")
        print(f"exact: tokens {tokens_ok}/{len(want)}, cost {cost_ok}/{len(want)} {notes}")
        for label, path in (("worker", args.profile_worker), ("publish", args.profile_publish)):
            if path is not None and path.exists():
                profile = summarize(path)
                common = profile.self_by_function.most_common(12)
                top = ", ".join(f"{fn} {n / profile.samples:.0%}" for fn, n in common)
                print(f"py-spy {label}: {profile.samples} samples; top self: {top}")
        return 0 if tokens_ok == cost_ok == len(want) else 1
    finally:
        await delete_prefix(settings)
        remove_tree(tmp)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("history", type=Path)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the partitions")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the run's topics")
    parser.add_argument(
        "--sink-process",
        action="store_true",
        help="workers with --no-sink, the lake in a process of its own (spendstream worker --sink-only)",
    )
    parser.add_argument("--profile-worker", type=Path, default=None)
    parser.add_argument("--profile-publish", type=Path, default=None)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
