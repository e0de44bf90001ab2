"""``spendstream query "SQL"``: DuckDB SQL over the Parquet lake."""

from __future__ import annotations

import argparse
import sys

import duckdb
import orjson

from config.settings import Settings
from sinks.catalog import run_query
from spendstream.table import render_table, to_jsonable


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "query",
        help="run DuckDB SQL over the Parquet lake (view: usage)",
        description=(
            "Run one DuckDB SQL statement over the lake under SPENDSTREAM_DATA_DIR. The view `usage` "
            "has one row per usage event (a delta), so SUM over it gives true totals; `sessions` sums "
            "it per session."
        ),
    )
    parser.add_argument("sql", help='e.g. "SELECT session_id, sum(cost_usd) FROM usage GROUP BY 1"')
    parser.add_argument("--json", action="store_true", help="print rows as a JSON array of objects")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        columns, rows = run_query(settings.data_dir, args.sql)
    except duckdb.Error as exc:
        print(f"spendstream query: {exc}", file=sys.stderr)
        return 2
    if args.json:
        records = [{c: to_jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        sys.stdout.write(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_table(columns, rows))
    return 0
