"""``spendstream budget SCOPE --max-usd X``: exit non-zero when a scope tree overspends."""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal, InvalidOperation

from config.settings import Settings
from schemas.money import usd_str
from spendstream.budget import watch_budget

EXIT_EXCEEDED = 3


def usd_amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from exc
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"not a non-negative amount: {text!r}")
    return value


def token_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a token count: {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a non-negative token count: {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "budget",
        help="follow a scope's live subtree cost; exit 3 the moment it exceeds a limit",
        description=(
            "Follow the totals topic for SCOPE (a session, a subagent or a whole agent tree: its "
            "subtree cost includes every descendant, in flight) and exit with status 3 as soon as "
            "the subtree cost exceeds --max-usd. Exits 0 when --for runs out first. This is the "
            "reference consumer for budget services."
        ),
    )
    parser.add_argument("scope", help="scope id (session id, or <session>/agent-<id> for a subagent)")
    parser.add_argument("--max-usd", type=usd_amount, required=True, help="limit in US dollars, e.g. 2.50")
    parser.add_argument(
        "--for",
        dest="follow_seconds",
        type=float,
        default=None,
        help="stop following after this many seconds",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    verdict = asyncio.run(watch_budget(settings, args.scope, args.max_usd, args.follow_seconds))
    record = verdict.record
    if verdict.exceeded and record is not None:
        print(
            f"BUDGET EXCEEDED: scope {args.scope} subtree cost ${usd_str(record.subtree.cost_usd)} > "
            f"${args.max_usd} (version {record.version}, {record.subtree.events} usage events, "
            f"{record.children} direct children)",
            file=sys.stderr,
        )
        return EXIT_EXCEEDED
    spent = usd_str(record.subtree.cost_usd) if record is not None else "0"
    print(f"within budget: scope {args.scope} subtree cost ${spent} <= ${args.max_usd}")
    return 0
