"""``spendstream prices [MODEL...] [--json] [--at DATE]``: the prices spendstream uses.

Per model: USD per million tokens (input, output, cache read, 5-minute and 1-hour cache
write), USD per 1,000 web searches, long-context tiers, the date the price has been in
force since, and its source; a model the table does not know is listed as unknown (exit 0).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from config.settings import Settings
from schemas.pricing import ModelPrice, PriceTable, PricingError, load_price_table
from spendstream.table import render_table, to_jsonable

_FIELDS: tuple[tuple[str, str], ...] = (
    ("input", "input"),
    ("output", "output"),
    ("cache read", "cache_read"),
    ("5m write", "cache_write_5m"),
    ("1h write", "cache_write_1h"),
    ("search/1k", "web_search_per_1k"),
)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from exc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "prices",
        help="the prices used per model (USD per million tokens), their source and date",
        description=(
            "Show the prices spendstream uses: the genai-prices snapshot with schemas/pricing.json "
            "and SPENDSTREAM_PRICES_FILE (or --prices) over it. Without MODEL, every known model. "
            "An event is priced at the price in force at its event time (UTC date); --at shows "
            "the prices of that date. Tiers (long-context rates) apply to one API response whose "
            "prompt (input + cache) exceeds them; results and session counters are priced at base rates."
        ),
    )
    parser.add_argument("models", nargs="*", metavar="MODEL", help="model names, any spelling a CLI uses")
    parser.add_argument("--json", action="store_true", help="JSON (prices as exact decimal strings)")
    parser.add_argument(
        "--at", type=iso_date, default=None, help="prices in force on this UTC date (default: today)"
    )
    parser.add_argument(
        "--prices",
        type=Path,
        default=None,
        metavar="FILE",
        help="price file overriding the bundled table (default: $SPENDSTREAM_PRICES_FILE)",
    )
    parser.set_defaults(handler=run)


def _amounts(price: ModelPrice) -> dict[str, Any]:
    return {name: getattr(price, name) for _, name in _FIELDS}


def model_prices(table: PriceTable, model: str, at: date) -> dict[str, Any]:
    """One model's entry: known or not, and when known its prices at ``at`` and history."""
    history = table.history(model)
    if history is None:
        return {"model": model, "known": False}
    period = history.period_at(at)
    return {
        "model": model,
        "known": True,
        "priced_as": history.name,
        "source": history.source,
        "since": period.since,
        **_amounts(period.price),
        "tiers": [{"above_prompt_tokens": t.above, **_amounts(t.price)} for t in period.tiers],
        "history": [{"since": p.since, **_amounts(p.price)} for p in history.periods],
    }


def _tier_text(entry: dict[str, Any]) -> str:
    return "; ".join(
        f">{t['above_prompt_tokens']:,}: " + " ".join(str(to_jsonable(t[name])) for _, name in _FIELDS[:5])
        for t in entry["tiers"]
    )


def render(entries: list[dict[str, Any]], at: date, table: PriceTable) -> str:
    columns = ["model", "priced as", *(label for label, _ in _FIELDS), "since", "tiers", "source"]
    rows = []
    for e in entries:
        if not e["known"]:
            rows.append([e["model"], "unknown", *([None] * (len(columns) - 2))])
            continue
        since = e["since"].isoformat() if e["since"] else "first listed"
        amounts = [e[name] for _, name in _FIELDS]
        rows.append([e["model"], e["priced_as"], *amounts, since, _tier_text(e) or "-", e["source"]])
    return (
        f"USD per million tokens (search: per 1,000), in force on {at.isoformat()}; "
        f"table: {table.as_of}\n"
        + render_table(columns, rows)
        + "tiers: rates (input output cache-read 5m-write 1h-write) of prompts above that size; "
        "applied to one API response (transcript, stream-json) whose prompt exceeds it\n"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        table = load_price_table(args.prices or settings.prices_file)
    except PricingError as exc:
        print(f"spendstream prices: bad price file: {exc}", file=sys.stderr)
        return 2
    at: date = args.at or datetime.now(UTC).date()
    models = args.models or sorted(table.models)
    entries = [model_prices(table, model, at) for model in models]
    if args.json:
        document = {
            "at": at,
            "table": table.as_of,
            "models": entries,
            "unknown_models": [e["model"] for e in entries if not e["known"]],
        }
        sys.stdout.write(orjson.dumps(to_jsonable(document), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render(entries, at, table))
    return 0
