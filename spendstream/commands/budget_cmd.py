"""``spendstream budget SCOPE --max-usd X``: exit non-zero when a scope tree overspends.
``spendstream budget --rules FILE [--webhook URL]``: the budget service (spendstream/alerts_service.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import orjson

from config.settings import Settings
from schemas.budget_rules import Rule, RulesError, parse_rules
from schemas.money import usd_str
from spendstream.alerts_service import RulesService
from spendstream.budget import watch_budget
from spendstream.webhook import WebhookSender

EXIT_EXCEEDED = 3
EXIT_USAGE = 2


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
            "the subtree cost exceeds --max-usd, or the current hour's exceeds --max-usd-per-hour. "
            "Exits 0 when --for runs out first. This is the reference consumer for budget services. "
            "With --rules FILE it is the budget service instead (README, 'Budget rules')."
        ),
    )
    parser.add_argument(
        "scope", nargs="?", help="scope id (session id, or <session>/agent-<id> for a subagent)"
    )
    parser.add_argument("--max-usd", type=usd_amount, help="limit in US dollars, e.g. 2.50")
    parser.add_argument(
        "--max-usd-per-hour",
        type=usd_amount,
        help=(
            "limit on the subtree cost of the current hour (the windows topic's event-time "
            "window of 3600 s holding the wall-clock time now); exit 3 when it is exceeded"
        ),
    )
    parser.add_argument(
        "--rules",
        type=Path,
        help=(
            "service mode: a JSON rules file (README, 'Budget rules'); emits an alert per rule, "
            "subject and threshold reached to the compacted alerts topic; runs until SIGTERM/SIGINT"
        ),
    )
    parser.add_argument("--webhook", metavar="URL", help="with --rules: also POST each new alert's JSON here")
    parser.add_argument(
        "--for",
        dest="follow_seconds",
        type=float,
        default=None,
        help="stop following after this many seconds",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.rules is not None:
        if args.scope is not None or args.max_usd is not None or args.max_usd_per_hour is not None:
            print(
                "spendstream budget: --rules takes no SCOPE, --max-usd or --max-usd-per-hour", file=sys.stderr
            )
            return EXIT_USAGE
        return run_rules(args, settings)
    if args.scope is None or (args.max_usd is None and args.max_usd_per_hour is None):
        print(
            "spendstream budget: give SCOPE --max-usd X and/or --max-usd-per-hour Y, or --rules FILE",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.webhook is not None:
        print("spendstream budget: --webhook needs --rules", file=sys.stderr)
        return EXIT_USAGE
    verdict = asyncio.run(
        watch_budget(settings, args.scope, args.max_usd, args.follow_seconds, args.max_usd_per_hour)
    )
    record, hour = verdict.record, verdict.hour
    if verdict.exceeded and hour is not None:
        print(
            f"BUDGET EXCEEDED: scope {args.scope} cost in the hour from {hour.start:%Y-%m-%d %H:%M} UTC "
            f"${usd_str(hour.subtree.cost_usd)} > ${args.max_usd_per_hour} per hour "
            f"({hour.subtree.events} usage events)",
            file=sys.stderr,
        )
        return EXIT_EXCEEDED
    if verdict.exceeded and record is not None:
        print(
            f"BUDGET EXCEEDED: scope {args.scope} subtree cost ${usd_str(record.subtree.cost_usd)} > "
            f"${args.max_usd} (version {record.version}, {record.subtree.events} usage events, "
            f"{record.children} direct children)",
            file=sys.stderr,
        )
        return EXIT_EXCEEDED
    if args.max_usd is not None:
        spent = usd_str(record.subtree.cost_usd) if record is not None else "0"
        print(f"within budget: scope {args.scope} subtree cost ${spent} <= ${args.max_usd}")
    if args.max_usd_per_hour is not None:
        spent = usd_str(hour.subtree.cost_usd) if hour is not None else "0"
        print(
            f"within budget: scope {args.scope} cost this hour ${spent} <= ${args.max_usd_per_hour} per hour"
        )
    return 0


def load_rules(path: Path) -> tuple[Rule, ...]:
    try:
        raw = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise RulesError(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise RulesError(f"{path} is not JSON: {exc}") from exc
    return parse_rules(raw)


def run_rules(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rules = load_rules(args.rules)
    except RulesError as exc:
        print(f"spendstream budget: bad rules file: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    if args.webhook is not None and not args.webhook.startswith(("http://", "https://")):
        print(f"spendstream budget: --webhook must be an http(s) URL, got {args.webhook!r}", file=sys.stderr)
        return EXIT_USAGE
    webhook = None if args.webhook is None else WebhookSender(args.webhook)
    service = RulesService(settings, rules, webhook)
    return asyncio.run(_serve(service, args.follow_seconds))


async def _serve(service: RulesService, follow_seconds: float | None) -> int:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, service.stop)
    count = await service.run(follow_seconds)
    print(f"budget rules stopped: {count} new alert(s) emitted", file=sys.stderr)
    return 0
