"""``spendstream parse [--format F] [--label K=V]... PATH... [--json]``: per-session usage of
local files.

No broker and no worker: the files go through the same parsers, outcome rules and ledger
as in the pipeline (spendstream/local_parse.py), so a user can check a file by hand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from config.local_settings import LocalReadSettings
from schemas.money import usd_str
from schemas.pricing import COST_MODES, CostMode, PriceTable, PricingError, load_price_table
from schemas.sources import PARSERS
from schemas.sources.detect import AUTO
from schemas.unpriced import NO_MODEL, UnpricedTally, unpriced_warning
from spendstream.commands.labels import parse_label
from spendstream.local_parse import ParseSummary, SessionTotals, expand_paths, ordered_sessions
from spendstream.parallel_parse import ParseJob, parse_parallel

_DESCRIPTION = """\
Parse local CLI output files and print the usage they hold, per session (scope), with
exact tokens and cost, without a broker. Each line gets exactly one outcome, as in the
worker: usage, valid without usage, or rejected with a reason (a Claude Code transcript
line holding no usage key is skipped undecoded unless --check-all). Duplicated lines of one
response count once. No prompt, code or model text is ever printed.
"""

_EPILOG = """\
formats: claude-json, claude-stream-json, claude-transcript, codex-json, gemini-json,
openclaw; auto (default) detects a file's format from its path, else from its first
recognisable line. A folder is walked for *.jsonl and *.json files; a pretty-printed
.json document (gemini) is one record.

prices: the genai-prices snapshot with schemas/pricing.json over it, overridden by
--prices FILE or SPENDSTREAM_PRICES_FILE (same shape as pricing.json); each event is priced
at the price in force at its event time (`spendstream prices MODEL` shows them). Cost mode:
--cost-mode, else SPENDSTREAM_COST_MODE. An unpriced event keeps its tokens, is named in a
warning (once per model) and in the footer, and in `unpriced_models` of --json.

examples:
  spendstream parse ~/.claude/projects/-home-me-proj/
  spendstream parse --format codex-json run.jsonl --json
  spendstream parse --label model=gpt-5.3-codex codex-exec.jsonl   # codex exec names no model
"""

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("reasoning", "reasoning_tokens"),
    ("cache write 5m", "cache_write_5m_tokens"),
    ("cache write 1h", "cache_write_1h_tokens"),
    ("cache read", "cache_read_tokens"),
    ("web search", "web_search_requests"),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "parse",
        help="per-session tokens and cost of local CLI output files (no broker)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to parse")
    parser.add_argument(
        "--format",
        default=AUTO,
        choices=sorted(PARSERS),
        help="source format of every file (default: auto, detected per file)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print JSON: totals, sessions and line outcomes (costs as exact decimal strings)",
    )
    parser.add_argument(
        "--label",
        action="append",
        type=parse_label,
        default=[],
        metavar="K=V",
        help="label every line as `publish --label` does (repeatable); "
        "model=NAME names the model of lines that name none (codex exec --json)",
    )
    parser.add_argument(
        "--prices",
        type=Path,
        default=None,
        metavar="FILE",
        help="price file overriding the bundled table (default: $SPENDSTREAM_PRICES_FILE)",
    )
    parser.add_argument(
        "--cost-mode",
        choices=COST_MODES,
        default=None,
        help="reported (CLI's cost, else computed), computed, reported-only "
        "(default: $SPENDSTREAM_COST_MODE, reported)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="processes to parse with (default: one per core); files of one session stay together",
    )
    parser.add_argument(
        "--check-all",
        action="store_true",
        help="decode and check every line, as the worker does; by default a Claude Code transcript "
        "line holding no usage key is skipped undecoded (counted as skipped)",
    )
    # One-shot and read-only: the console script exits without tearing the interpreter
    # down once the output is flushed (spendstream/cli.py `entry`); its four settings are
    # read without pydantic when they can be (config/local_settings.py).
    parser.set_defaults(handler=run, exit_at_once=True, local_settings=True)


def run(args: argparse.Namespace, settings: LocalReadSettings) -> int:
    try:
        prices = load_price_table(args.prices or settings.prices_file)
    except PricingError as exc:
        print(f"spendstream parse: bad price file: {exc}", file=sys.stderr)
        return 2
    try:
        paths = expand_paths(args.paths)
    except FileNotFoundError as exc:
        print(f"spendstream parse: {exc.filename}: no such file or directory", file=sys.stderr)
        return 2
    mode: CostMode = args.cost_mode or settings.cost_mode
    if args.jobs is not None and args.jobs < 1:
        print("spendstream parse: --jobs must be at least 1", file=sys.stderr)
        return 2
    job = ParseJob(args.format, prices, mode, settings.runner_id, dict(args.label), args.check_all)
    summary, unreadable = parse_parallel(paths, job, args.jobs)
    for path, error in unreadable:
        print(f"spendstream parse: cannot read {path}: {error.strerror or error}", file=sys.stderr)
    warn_unpriced(summary.unpriced, prices)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(summary_json(summary), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write(render_summary(summary))
    sys.stdout.flush()
    return 1 if unreadable else 0


def warn_unpriced(tally: UnpricedTally, prices: PriceTable) -> None:
    """One stderr warning per unpriced model (a parse is one process, one tally)."""
    for model in tally.models:
        name = None if model == NO_MODEL else model
        print(f"spendstream parse: warning: {unpriced_warning(name, prices)}", file=sys.stderr)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _totals_json(totals: SessionTotals) -> dict[str, Any]:
    return {**totals.tokens.as_dict(), "cost_usd": usd_str(totals.cost_usd), "events": totals.events}


def summary_json(summary: ParseSummary) -> dict[str, Any]:
    """The ``--json`` document; token and cost fields named as in the usage event."""
    sessions = [
        {
            "session_id": s.session_id,
            "lineage": list(s.lineage),
            "root_id": s.lineage[0] if s.lineage else s.session_id,
            "sources": sorted(s.sources),
            "models": sorted(s.models),
            "cost_sources": sorted(s.cost_sources),
            "first_event_time": _iso(s.first_event_time),
            "last_event_time": _iso(s.last_event_time),
            **_totals_json(s),
        }
        for s in ordered_sessions(summary)
    ]
    return {
        "totals": {**_totals_json(summary.total()), "sessions": len(sessions)},
        "sessions": sessions,
        "outcomes": {k: summary.outcomes[k] for k in ("usage", "no_usage", "rejected", "skipped")},
        "cost_disagreements": summary.cost_disagreements,
        **summary.unpriced.as_json(),
        "files": [{"path": path, "format": fmt} for path, fmt in summary.files.items()],
        "rejected_lines": [{"path": r.path, "line": r.line, "reason": r.reason} for r in summary.rejections],
    }


def money(amount: Decimal) -> str:
    """``$10.58909675``: every significant digit, at least cents, never rounded."""
    places = max(2, -int(amount.normalize().as_tuple().exponent))
    return "$" + format(amount, f",.{places}f")


# Columns shown even when zero; the others only when some row has a non-zero value.
_ALWAYS = frozenset({"input_tokens", "output_tokens", "cache_write_5m_tokens", "cache_read_tokens"})


def _row(totals: SessionTotals, columns: Sequence[str], *, label: str | None = None) -> list[str]:
    counts = totals.tokens.as_dict()
    amounts = [f"{counts[name]:,}" for name in columns]
    sources, models, cost_sources = (
        ",".join(sorted(values)) for values in (totals.sources, totals.models, totals.cost_sources)
    )
    cost = money(totals.cost_usd)
    return [label or totals.session_id, sources, models, f"{totals.events:,}", *amounts, cost, cost_sources]


def render_summary(summary: ParseSummary) -> str:
    """The per-session table, a TOTAL line, the line outcomes and the first rejections."""
    sessions = ordered_sessions(summary)
    total = summary.total()
    shown = [(label, name) for label, name in _COLUMNS if name in _ALWAYS or getattr(total.tokens, name)]
    columns = [name for _, name in shown]
    rows = [_row(s, columns) for s in sessions]
    rows.append(_row(total, columns, label="TOTAL"))
    header = ["session", "source", "model", "events", *(label for label, _ in shown), "cost", "cost source"]
    out = [_table(header, rows, text_columns=3, trailing_text_columns=1)]
    lines = sum(summary.outcomes.values())
    out.append(
        f"{len(summary.files)} file(s), {lines:,} lines: {summary.outcomes['usage']:,} with usage, "
        f"{summary.outcomes['no_usage']:,} without usage, {summary.outcomes['rejected']:,} rejected"
        + (f", {summary.outcomes['skipped']:,} skipped (no usage key)" if summary.outcomes["skipped"] else "")
        + "; "
        f"{summary.cost_disagreements} cost disagreement(s) (reported vs computed, >1%)\n"
    )
    out.extend(f"rejected {r.path}:{r.line}: {r.reason}\n" for r in summary.rejections)
    if summary.outcomes["rejected"] > len(summary.rejections):
        out.append(f"... and {summary.outcomes['rejected'] - len(summary.rejections):,} more rejected\n")
    footer = summary.unpriced.footer()
    if footer:
        out.append(footer + "\n")
    return "".join(out)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: int, trailing_text_columns: int
) -> str:
    """Fixed-width columns: text (the first and last few) left-aligned, numbers right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numbers = range(text_columns, len(header) - trailing_text_columns)

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in numbers else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip() + "\n"

    return line(header) + line(["-" * w for w in widths]) + "".join(line(row) for row in rows)
