"""``python -m bench``: every figure of issue 7 on the real local broker, as one table.

Sections (``--sections``, comma separated; default all):

- ``live``, ``backfill``: full pipeline (normalize + ledger + rollup + Parquet), one worker,
  the mix of bench/mix.py, steady state (worker assigned before the first publish);
- ``bare``: the same records through an aiokafka consume -> orjson -> produce loop;
- ``faust``: a Faust agent that only counts the live records;
- ``latency``: publish -> totals p50/p95/p99 at ``--rates`` offered lines/s (live worker);
- ``state``: worker RSS and table sizes (from the changelogs) after the live run;
- ``million``: bench/million.py, worker RSS and state keys after ``--million-events`` usage events;
- ``soak``: bench/soak.py, ``--soak-minutes`` at 200 lines/s with the worker's TTLs at ``--soak-ttl``;
- ``ccusage``: bench/ccusage_compare.py at ``--ccusage-size`` (1 GiB: ccusage, spendstream in
  process, ``spendstream parse`` and the whole pipeline on the same files).

The default run takes about 35 minutes; ``--quick`` about 3-5. No broker needs to run first:
the local one (``SPENDSTREAM_STATE_DIR``, ``SPENDSTREAM_LOCAL_BROKER_PORT``) is started unless
``SPENDSTREAM_BROKER`` names a cluster.

``--quick`` shrinks every size. ``--profile`` runs py-spy on the
worker during the live run. ``--markdown PATH`` writes the tables there too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil

from bench import mix
from bench.bare import bare_loop
from bench.gen_history import parse_size
from bench.kafka_tools import REPO, delete_prefix, fresh_settings, remove_tree, start_worker, table_sizes
from bench.pipeline import run_latency, run_throughput
from bench.profile import Recorder, summarize
from bench.report import Report
from tests.integration.harness import WorkerProcess, settings_env

ALL = ("live", "backfill", "bare", "faust", "latency", "state", "million", "soak", "ccusage")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", default=",".join(ALL), help=f"any of {','.join(ALL)}")
    parser.add_argument("--quick", action="store_true", help="small sizes: about 3-5 minutes")
    parser.add_argument(
        "--history", type=parse_size, default=None, help="generated history size (default 24M, quick 4M)"
    )
    parser.add_argument(
        "--fixture-copies", type=int, default=None, help="copies of each real fixture (default 20, quick 5)"
    )
    parser.add_argument("--rates", default="1000,100", help="offered lines/s for the latency section")
    parser.add_argument("--latency-seconds", type=float, default=None, help="per rate (default 30, quick 10)")
    parser.add_argument(
        "--ccusage-size", default=None, help="history size for ccusage (default 1G, quick 10M)"
    )
    parser.add_argument(
        "--million-events", type=int, default=None, help="usage events of the million section (quick 50,000)"
    )
    parser.add_argument("--soak-minutes", type=float, default=None, help="soak length (default 10, quick 1)")
    parser.add_argument("--soak-ttl", type=float, default=60.0, help="worker dedup/stream TTL in the soak")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker during the live run")
    parser.add_argument("--profile-out", type=Path, default=None, help="keep py-spy's raw stacks here")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    args.history = args.history or parse_size("4M" if args.quick else "24M")
    args.fixture_copies = (
        args.fixture_copies if args.fixture_copies is not None else (5 if args.quick else 20)
    )
    args.latency_seconds = args.latency_seconds or (10.0 if args.quick else 30.0)
    args.ccusage_size = args.ccusage_size or ("10M" if args.quick else "1G")
    args.million_events = args.million_events or (50_000 if args.quick else 1_000_000)
    args.soak_minutes = args.soak_minutes or (1.0 if args.quick else 10.0)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    return args


async def run(args: argparse.Namespace, report: Report) -> None:
    settings, tmp = fresh_settings("bench")
    work = mix.build(tmp / "history", args.history, args.fixture_copies)
    live, packed = mix.live_records(work), mix.backfill_records(work)
    report.workload(work, len(live), len(packed))
    backfill_settings = settings.model_copy(
        update={
            "topic_prefix": settings.topic_prefix + "b",
            "web_port": settings.web_port + 1,
            "data_dir": tmp / "backfill-lake",
            "state_dir": tmp / "backfill-state",
        }
    )
    try:
        if {"live", "latency", "state", "faust", "bare"} & set(args.sections):
            worker = await start_worker(settings, tmp / "live-worker.log")
            assert worker.proc is not None
            recorder = Recorder(worker.proc.pid, tmp / "live.pyspy.txt") if args.profile else None
            try:
                result = await run_throughput(settings, live, args.timeout)
                report.throughput("live (1 line/record)", result)
                if recorder is not None:
                    report.note("py-spy: " + recorder.stop().strip().replace("\n", " ")[-200:])
                    report.profile(summarize(tmp / "live.pyspy.txt"))
                    if args.profile_out is not None:
                        shutil.copy(tmp / "live.pyspy.txt", args.profile_out)
                if "latency" in args.sections:
                    for rate in (float(r) for r in args.rates.split(",")):
                        if not worker_alive(worker, report, f"latency at {rate:g} lines/s"):
                            break
                        report.latency(await run_latency(settings, rate, args.latency_seconds))
                if "state" in args.sections and worker_alive(worker, report, "state"):
                    metrics = result.metrics
                    rss = psutil.Process(worker.proc.pid).memory_info().rss
                    report.state(rss, metrics, await table_sizes(settings))
            finally:
                worker.terminate()
        if "backfill" in args.sections or "bare" in args.sections:
            worker = await start_worker(backfill_settings, tmp / "backfill-worker.log")
            try:
                report.throughput(
                    "backfill (packed, 500 lines/512 KiB)",
                    await run_throughput(backfill_settings, packed, args.timeout),
                )
            finally:
                worker.terminate()
        if "bare" in args.sections:
            for label, s in (("live", settings), ("backfill", backfill_settings)):
                lines, seconds = await bare_loop(s, s.topic("raw"), s.topic("bare-out"))
                report.bare(label, lines, seconds)
        if "faust" in args.sections:
            report.faust_count(len(live), faust_count(settings, tmp, len(live), args.timeout))
    finally:
        for s in (settings, backfill_settings):
            await delete_prefix(s)
        remove_tree(tmp)


def worker_alive(worker: WorkerProcess, report: Report, section: str) -> bool:
    """False (with a note) when the worker exited under us, e.g. signalled by another test run."""
    if worker.alive():
        return True
    code = worker.proc.returncode if worker.proc is not None else None
    report.note(f"worker exited (code {code}) before {section}; section skipped, see {worker.log_path}")
    return False


def faust_count(settings: object, tmp: Path, expected: int, timeout_s: float) -> float:
    """Records/s of the count-only Faust agent over the live raw topic (first -> last record)."""
    from config.settings import Settings

    assert isinstance(settings, Settings)
    out = tmp / "faust-count.json"
    log = (tmp / "faust-count.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.faust_count", settings.topic("raw"), str(expected), str(out)],
        env=settings_env(settings), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.perf_counter() + timeout_s
        while not out.exists() and time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(0.5)
        if not out.exists():
            raise RuntimeError(f"count-only Faust agent gave no result, see {tmp / 'faust-count.log'}")
        time.sleep(0.2)
        result = orjson.loads(out.read_bytes())
        return float(result["records"] - 1) / (result["last"] - result["first"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def attached(
    report: Report, section: str, module: str, options: list[str], out_flag: str = "--markdown"
) -> None:
    """Run ``python -m <module> <options>`` (a bench of its own) and attach its markdown."""
    md = Path(f"/tmp/bench-{section}-{os.getpid()}.md")
    cmd = [sys.executable, "-m", module, *options, out_flag, str(md)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, check=False)
    text = md.read_text() if md.exists() else proc.stderr.decode()[-2000:]
    report.attached(section, " ".join(["python", *cmd[1:-2]]), proc.returncode, text)
    md.unlink(missing_ok=True)


def attached_sections(args: argparse.Namespace, report: Report) -> None:
    if "million" in args.sections:
        attached(report, "million", "bench.million", ["--events", str(args.million_events)])
    if "soak" in args.sections:
        soak = ["--minutes", f"{args.soak_minutes:g}", "--ttl", f"{args.soak_ttl:g}"]
        attached(report, "soak", "bench.soak", soak, out_flag="--out")
    if "ccusage" in args.sections:
        modes = "ledger,parse" if args.quick else "ledger,parse,pipeline"
        options = ["--size", args.ccusage_size, "--modes", modes, "--pipeline-timeout", "3600"]
        attached(report, "ccusage", "bench.ccusage_compare", options)


def main() -> int:
    args = parse_args()
    report = Report(" ".join(["python -m bench", *sys.argv[1:]]))
    asyncio.run(run(args, report))
    attached_sections(args, report)
    text = report.render()
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
