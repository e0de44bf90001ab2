"""``spendstream compact [--date D]``: merge a day's small Parquet files into large sorted ones."""

from __future__ import annotations

import argparse
import sys

from config.settings import Settings
from sinks.compact import COMPACT_MAX_ROWS, DATASETS, CompactionBusy, compact
from spendstream.commands.report_cmd import iso_date


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "compact",
        help="merge the lake's small Parquet files into large sorted ones",
        description=(
            "Merge each date's small files (per dataset and Kafka partition) into large files sorted "
            "for queries. Safe while the worker writes and while others query: the merged file "
            "replaces its inputs in one rename, and a killed compaction leaves nothing that the "
            "next run does not clean up. Resume points of the sink do not move."
        ),
    )
    parser.add_argument(
        "--date", type=iso_date, default=None, help="only this date, YYYY-MM-DD (default: all)"
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default=None, help="only this dataset")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=COMPACT_MAX_ROWS,
        help=f"rows per merged file at most ({COMPACT_MAX_ROWS})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    datasets = (args.dataset,) if args.dataset else tuple(DATASETS)
    try:
        summary = compact(settings.data_dir, datasets=datasets, day=args.date, max_rows=args.max_rows)
    except CompactionBusy as exc:
        print(f"spendstream compact: {exc}", file=sys.stderr)
        return 1
    for merge in summary.merges:
        where = f"{merge.dataset} date={merge.day} p{merge.partition}"
        print(f"{where}: {merge.inputs} files -> {merge.output.name} ({merge.rows} rows)")
    print(
        f"{len(summary.merges)} merged file(s); removed {summary.removed_superseded} superseded file(s) "
        f"and {summary.removed_temps} stale temp file(s); repaired {summary.repaired_overlaps} overlap(s)"
    )
    return 0
