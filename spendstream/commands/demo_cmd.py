"""``spendstream demo``: broker, worker, a bundled sample, and a cost table from DuckDB."""

from __future__ import annotations

import argparse
import sys

from config.settings import Settings
from spendstream.demo import DemoError, run_demo


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a bundled sample and print per-session costs",
        description=(
            "Start (or reuse) the local broker, start a worker, publish the bundled sample of CLI "
            "result lines, wait until its events are in the Parquet lake and print a per-session "
            "cost table from DuckDB. Running it again publishes the same lines again: the totals "
            "do not change."
        ),
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for the events (default 180)"
    )
    parser.add_argument("--keep-worker", action="store_true", help="leave the worker running afterwards")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        print(run_demo(settings, timeout=args.timeout, keep_worker=args.keep_worker))
    except DemoError as exc:
        print(f"spendstream demo: {exc}", file=sys.stderr)
        return 1
    return 0
