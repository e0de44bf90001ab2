"""``spendstream worker``: run the Faust app and the Parquet sink."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from config.kafka import ensure_topics
from config.settings import Settings
from spendstream.supervise import CHILD_ENV, supervise
from streams.runner.web_guard import WebBindError, web_options


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run the stream worker (normalize, dedup, roll up, sink to Parquet)",
        description=(
            "Run the Faust worker: it consumes the raw topic, writes usage events, dead letters and "
            "aggregates to their topics, and lands usage events in the Parquet lake under "
            "SPENDSTREAM_DATA_DIR. Creates spendstream's topics if they are missing. The worker is "
            "fail-stop (a failed batch ends it, and a restart replays from the committed offsets), so "
            "this command runs it as a child process and restarts it, with backoff, unless it exits "
            "cleanly or on a configuration error. Stop with Ctrl-C or SIGTERM."
        ),
    )
    lake = parser.add_mutually_exclusive_group()
    lake.add_argument("--no-sink", action="store_true", help="do not write the Parquet lake from this worker")
    lake.add_argument(
        "--sink-only",
        action="store_true",
        help=(
            "only write the Parquet lake (no stages): beside workers run with --no-sink, the lake "
            "gets a process, and a core, of its own"
        ),
    )
    parser.add_argument(
        "--no-restart",
        action="store_true",
        help=(
            "run the worker in this process and exit when it stops (for systemd, Kubernetes or "
            "Docker restart policies, which then restart it)"
        ),
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        web_options(settings)  # refuse a web server beyond loopback without a token, before anything starts
    except WebBindError as exc:
        print(f"spendstream worker: web server: {exc}", file=sys.stderr)
        return 2
    if not args.no_restart and os.environ.get(CHILD_ENV) != "1":
        return supervise(sys.argv[1:])
    from faust import Worker

    from schemas.pricing import PricingError
    from spendstream.worker import build_worker_app
    from streams.runner.gc_tuning import tune_gc

    try:
        asyncio.run(ensure_topics(settings))
    except RuntimeError as exc:
        print(f"spendstream worker: {exc}", file=sys.stderr)
        return 1
    if args.sink_only:
        from spendstream.worker import run_sinks

        tune_gc()
        asyncio.run(run_sinks(settings))
        return 0
    try:
        app = build_worker_app(settings, with_sink=not args.no_sink)
    except PricingError as exc:
        print(f"spendstream worker: SPENDSTREAM_PRICES_FILE: {exc}", file=sys.stderr)
        return 2
    worker = Worker(app, loglevel="INFO", quiet=True)
    tune_gc()
    worker.execute_from_commandline()
    return 0
