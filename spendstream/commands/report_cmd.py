"""``spendstream report KIND``: cost and tokens from the lake, or from local files (``--from``).

KIND is daily, monthly, session, model, tree, messages, or ``label KEY``. ``--where K=V``
keeps events labelled so; ``--format table|json|csv|line`` (``--json`` = ``--format json``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from config.local_settings import LocalReadSettings
from schemas.ledger import MemoryLedger
from schemas.pricing import PricingError, load_price_table
from sinks.lake_rows import Selection
from sinks.report_kinds import LABEL_KINDS, REPORT_KINDS, SESSION_KINDS, grains_for
from sinks.summed_rows import Summing
from spendstream.commands.labels import parse_label
from spendstream.local_report import LocalReading, source_files
from spendstream.report_format import LINE_NAMES, render_csv, render_lines
from spendstream.table import jsonable_dumps, render_table

if TYPE_CHECKING:
    # pyarrow and DuckDB's side (sinks.reports, sinks.memory_lake) are imported where they
    # are used: `report --from` forks its parsing workers first, then loads them meanwhile.
    from sinks.catalog import Catalog
    from sinks.reports import Report

FORMATS = ("table", "json", "csv", "line")

_DESCRIPTION = """\
Exact cost and tokens by type from the lake under SPENDSTREAM_DATA_DIR (or local files:
--from), the cost split (input, output, cache read, cache write: 5-minute and 1-hour apart
in JSON; the parts sum exactly to the cost), cache hit ratio (cache_read / (input +
cache_read)) and cache-write overhead (cache-write cost / cost). `tree` gives subtree
totals: a root's row includes all its descendants. `label KEY` groups by a free label
(publish/run --label KEY=V). `messages` gives one row per API response (session, message
id, request id; --session S keeps S and its subagents). Dates are UTC event dates.
"""

_EPILOG = """\
--format line (kinds: label, model, daily, monthly, session, tree) prints the total, then
one line per group: `Developer · 45.2k in / 12.1k out · $0.21`, where `in` is every
prompt token (input + cache reads + cache writes) and `out` the output tokens; dollars to
the cent (json has the exact cost). csv: one row per group, json field names, no total row.

--from reads CLI output files or folders instead of the lake, through the same parsers and
ledger as the worker, and runs the same report SQL: the same numbers as the lake for the
same files published with the same labels (--label labels every file, as publish --label).
A line with no time of its own (claude -p json, codex exec) is dated by its file's
modification time. `--from` with no path reads the folders of the CLIs on this machine
(~/.claude/projects, ~/.codex/sessions, ~/.openclaw/agents, as watch finds them).

examples:
  spendstream report label agent --where task=T42 --format line
  spendstream report daily --from ~/.claude/projects --since 2026-01-01
  spendstream report session --json --from
"""

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
        help="cost and token reports from the lake or local files "
        "(daily, monthly, session, model, tree, label, messages)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=REPORT_KINDS)
    parser.add_argument("key", nargs="?", default=None, help="the label to group by (report label KEY)")
    parser.add_argument("--since", type=iso_date, default=None, help="first date, YYYY-MM-DD (inclusive)")
    parser.add_argument("--until", type=iso_date, default=None, help="last date, YYYY-MM-DD (inclusive)")
    parser.add_argument(
        "--session",
        default=None,
        help="messages only: the responses of this session (scope) and of its subagents",
    )
    parser.add_argument(
        "--where",
        action="append",
        type=parse_label,
        default=[],
        metavar="K=V",
        help="only events labelled K=V (repeatable: all must hold)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="same as --format json (exact decimals as strings)",
    )
    parser.add_argument(
        "--from",
        dest="sources",
        nargs="*",
        default=None,
        metavar="PATH",
        help="read these CLI output files or folders instead of the lake; none: the CLIs' default folders",
    )
    parser.add_argument(
        "--label",
        action="append",
        type=parse_label,
        default=[],
        metavar="K=V",
        help="with --from: label every file K=V, as publish --label does (repeatable)",
    )
    # One-shot and read-only: the console script exits without tearing the interpreter
    # down once the output is flushed (spendstream/cli.py `entry`); its four settings are
    # read without pydantic when they can be (config/local_settings.py).
    parser.set_defaults(handler=run, exit_at_once=True, local_settings=True)


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


def _usage_error(args: argparse.Namespace) -> str | None:
    if args.since and args.until and args.since > args.until:
        return "--since is after --until"
    if args.kind in LABEL_KINDS and not args.key:
        return f"report {args.kind} needs the label to group by: report {args.kind} KEY"
    if args.kind not in LABEL_KINDS and args.key:
        return f"report {args.kind} takes no KEY (got {args.key!r})"
    if args.format == "line" and args.kind not in LINE_NAMES:
        return f"--format line fits {', '.join(LINE_NAMES)}, not {args.kind}"
    if args.label and args.sources is None:
        return "--label labels files read with --from; the lake's events carry their own labels"
    return None


def _build(source: Path | Catalog, args: argparse.Namespace, where: dict[str, str]) -> Report:
    """The report ``args`` ask for, of the lake under a folder or of a catalog."""
    from sinks.reports import build_report

    return build_report(
        source,
        args.kind,
        since=args.since,
        until=args.until,
        label_key=args.key,
        where=where,
        session=args.session,
    )


def _local_report(
    args: argparse.Namespace, settings: LocalReadSettings, where: dict[str, str]
) -> tuple[Report, int]:
    """The report of the files ``--from`` names (or the CLIs' folders); exit 1 if some
    could not be read."""
    files = source_files(args.sources)
    ledger = MemoryLedger(prices=load_price_table(settings.prices_file), mode=settings.cost_mode)
    # Events summed per set no report of this kind tells apart (sinks/summed_rows.py):
    # per response for `messages`, else per scope, model and day.
    summing = Summing(Selection(args.since, args.until, where), grains_for(args.kind)[0])
    # The workers parse while this process imports pyarrow and DuckDB and makes the lake.
    with LocalReading(files, summing, ledger, settings.runner_id, dict(args.label)) as reading:
        from sinks.memory_lake import MemoryLake

        with MemoryLake(since=args.since, until=args.until, where=where, grain=summing.grain) as lake:
            read = reading.finish(lake)
            report = _build(lake, args, where)
    for path, error in read.unreadable:
        print(f"spendstream report: cannot read {path}: {error.strerror or error}", file=sys.stderr)
    if read.rejected:
        print(
            f"spendstream report: {read.rejected:,} line(s) rejected (spendstream parse PATH lists them)",
            file=sys.stderr,
        )
    if not files:
        print("spendstream report: --from found no CLI output files", file=sys.stderr)
    return report, 1 if read.unreadable else 0


def render(report: Report, output_format: str) -> str:
    if output_format == "json":
        return jsonable_dumps(report.as_dict(), orjson.OPT_INDENT_2).decode() + "\n"
    if output_format == "csv":
        return render_csv(report)
    if output_format == "line":
        return render_lines(report)
    return render_report(report)


def run(args: argparse.Namespace, settings: LocalReadSettings) -> int:
    problem = _usage_error(args)
    if problem:
        print(f"spendstream report: {problem}", file=sys.stderr)
        return 2
    if args.session is not None and args.kind not in SESSION_KINDS:
        print(f"spendstream report: --session is for {', '.join(sorted(SESSION_KINDS))}", file=sys.stderr)
        return 2
    where = dict(args.where)
    code = 0
    try:
        if args.sources is None:
            report = _build(settings.data_dir, args, where)
        else:
            report, code = _local_report(args, settings, where)
    except FileNotFoundError as exc:
        print(f"spendstream report: {exc.filename}: no such file or directory", file=sys.stderr)
        return 2
    except PricingError as exc:
        print(f"spendstream report: bad price file: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # DuckDB is imported only where a connection is made (sinks/catalog.py).
        duckdb = sys.modules.get("duckdb")
        if duckdb is None or not isinstance(exc, duckdb.Error):
            raise
        print(f"spendstream report: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(report, args.format))
    sys.stdout.flush()
    return code
