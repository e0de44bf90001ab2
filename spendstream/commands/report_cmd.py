"""``spendstream report daily|monthly|session|model|tree|messages``: cost and tokens from the lake."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

import duckdb
import orjson

from config.settings import Settings
from sinks.reports import REPORT_KINDS, SESSION_KINDS, Report, build_report
from spendstream.table import render_table, to_jsonable

_COUNT_COLUMNS = (
    ("events", "events"),
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("total_tokens", "total_tokens"),
    ("cache_hit", "cache_hit_ratio"),
    ("write_overhead", "cache_write_overhead"),
    ("cost_usd", "cost_usd"),
)
# The cost split, shown as columns by the per-response report (every kind has it in JSON).
_SPLIT_COLUMNS = (
    ("input_cost", "input_cost_usd"),
    ("output_cost", "output_cost_usd"),
    ("cache_read_cost", "cache_read_cost_usd"),
    ("cache_write_cost", "cache_write_cost_usd"),
)


def iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="cost and token reports from the Parquet lake (daily, monthly, session, model, tree, messages)",
        description=(
            "Exact cost and tokens by type from the lake under SPENDSTREAM_DATA_DIR, the cost split "
            "(input, output, cache read, cache write: 5-minute and 1-hour apart in JSON; the parts "
            "sum exactly to the cost), cache hit ratio (cache_read / (input + cache_read)) and "
            "cache-write overhead (cache-write cost / cost). `tree` gives subtree totals: a root's "
            "row includes all its descendants. `messages` gives one row per API response "
            "(session, message id, request id). Dates are UTC event dates."
        ),
    )
    parser.add_argument("kind", choices=REPORT_KINDS)
    parser.add_argument("--since", type=iso_date, default=None, help="first date, YYYY-MM-DD (inclusive)")
    parser.add_argument("--until", type=iso_date, default=None, help="last date, YYYY-MM-DD (inclusive)")
    parser.add_argument(
        "--session",
        default=None,
        help="messages only: the responses of this session (scope) and of its subagents",
    )
    parser.add_argument("--json", action="store_true", help="JSON for machines (exact decimals as strings)")
    parser.set_defaults(handler=run)


def _key_cells(report: Report, keys: dict[str, Any]) -> list[Any]:
    cells = []
    for column in report.key_columns:
        value = keys[column]
        if column == "scope_id":
            value = "  " * int(keys.get("depth") or 0) + str(value)
        elif column in ("models", "cost_sources"):
            value = ",".join(value or ())
        elif column in ("first_event", "last_event") and value is not None:
            value = value.isoformat(timespec="seconds")
        cells.append(value)
    return cells


def render_report(report: Report) -> str:
    """The report as a readable table with a TOTAL line."""
    shown = (*_COUNT_COLUMNS, *_SPLIT_COLUMNS) if report.kind == "messages" else _COUNT_COLUMNS
    columns = [*report.key_columns, *(label for label, _ in shown)]
    rows = []
    for row in report.rows:
        values = row.totals.as_dict()
        rows.append([*_key_cells(report, row.keys), *(values[name] for _, name in shown)])
    totals = report.totals.as_dict()
    blanks: list[Any] = [None] * (len(report.key_columns) - 1)
    rows.append(["TOTAL", *blanks, *(totals[name] for _, name in shown)])
    footer = report.unpriced.footer()
    return render_table(columns, rows) + (f"{footer}\n" if footer else "")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.since and args.until and args.since > args.until:
        print("spendstream report: --since is after --until", file=sys.stderr)
        return 2
    if args.session is not None and args.kind not in SESSION_KINDS:
        print(f"spendstream report: --session is for {', '.join(sorted(SESSION_KINDS))}", file=sys.stderr)
        return 2
    try:
        report = build_report(
            settings.data_dir, args.kind, since=args.since, until=args.until, session=args.session
        )
    except duckdb.Error as exc:
        print(f"spendstream report: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(
            orjson.dumps(to_jsonable(report.as_dict()), option=orjson.OPT_INDENT_2).decode() + "\n"
        )
    else:
        sys.stdout.write(render_report(report))
    return 0
