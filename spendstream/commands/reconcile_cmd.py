"""``spendstream reconcile``: does the lake agree with the totals topic on every root scope?"""

from __future__ import annotations

import argparse
import asyncio
import sys

import duckdb
import orjson

from config.settings import Settings
from sinks.reconcile import ReconcileError, Reconciliation, reconcile
from spendstream.table import render_table, to_jsonable

EXIT_DIFFERENT = 1
EXIT_ERROR = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="check that the lake's sums equal the totals topic's for every root scope",
        description=(
            "Read the whole totals topic (latest version per scope), take the root scopes (no "
            "parent) and compare their subtree cost, every token type and event count with the "
            "sums of the lake's usage rows per root_id. Prints each difference, or that all root "
            "scopes agree. Exit status: 0 all agree, 1 any difference (or an unreadable totals "
            "record), 2 reconciliation could not run (broker unreachable, no totals topic, lake "
            "unreadable). Run it while the pipeline is idle: in-flight events are a moment's lag."
        ),
    )
    parser.add_argument("--json", action="store_true", help="JSON for machines (exact decimals as strings)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds allowed to reach the broker and read the totals topic (default 30)",
    )
    parser.set_defaults(handler=run)


def render_reconciliation(result: Reconciliation) -> str:
    if result.agrees:
        return f"all {result.roots} root scopes agree\n"
    lines = []
    if result.differences:
        rows = [
            [
                d.root_id,
                d.field,
                d.totals if d.totals is not None else "(absent)",
                d.lake if d.lake is not None else "(absent)",
            ]
            for d in result.differences
        ]
        lines.append(render_table(["root_id", "field", "totals_topic", "lake"], rows))
        roots = len({d.root_id for d in result.differences})
        lines.append(f"{len(result.differences)} differences in {roots} of {result.roots} root scopes\n")
    for where in result.unreadable:
        lines.append(f"unreadable totals record {where}\n")
    return "".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        result = asyncio.run(reconcile(settings, wait_seconds=args.timeout))
    except ReconcileError as exc:
        print(f"spendstream reconcile: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except duckdb.Error as exc:
        print(f"spendstream reconcile: reading the lake failed: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        sys.stdout.write(
            orjson.dumps(to_jsonable(result.as_dict()), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    else:
        sys.stdout.write(render_reconciliation(result))
    return 0 if result.agrees else EXIT_DIFFERENT
