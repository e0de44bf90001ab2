"""``spendstream hook``: a Claude Code hook (README, "Claude Code hooks").

Exit statuses follow what Claude Code does with them: 0 goes on silently; 2 blocks a
PreToolUse tool call and shows stderr to the model; any other status is a non-blocking
error whose stderr the user sees. So a scope over its limit gets 2 with the reason, and a
hook that fails is never silent: ``--on-error allow`` (the default) exits 1 with one line
saying what happened, ``--on-error deny`` exits 2 with it. ``deny`` applies where the hook
decides something (PreToolUse, or input it cannot read): after a tool ran (PostToolUse)
there is nothing left to deny, and on Stop/SubagentStop exit 2 would make Claude keep
working, so a failure there is always exit 1.

The default is ``allow`` because the hook guards spend, not safety: a worker restarting or
a broker hiccup should not halt every agent using it; ``run --max-usd --fail-closed`` or
``--on-error deny`` are there for budgets that must hold even then.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from config.access import AccessRefused
from config.settings import Settings
from producers.auth import runner_auth
from producers.emit import Origin
from producers.guard import Limits, judge
from producers.hook import (
    CHECKING_EVENTS,
    PUBLISHING_EVENTS,
    HookInput,
    HookInputError,
    budget_scope,
    publish_scope,
    publish_transcripts,
    read_hook_input,
)
from producers.worker_totals import fetch_scope_totals
from spendstream.commands.budget_cmd import token_count, usd_amount
from spendstream.commands.run_cmd import log_to_file

EXIT_BLOCK = 2  # Claude Code: block the tool call, show stderr to the model
EXIT_NON_BLOCKING = 1  # Claude Code: a non-blocking error, stderr shown to the user
_TOTALS_TIMEOUT_S = 5.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "hook",
        help="Claude Code hook: block tool calls over a budget; publish transcript lines",
        description=(
            "Read a Claude Code hook's JSON on stdin. PreToolUse: exit 2 with the reason on stderr "
            "when the scope (the session, or the enclosing `spendstream run` tree) is over "
            "--max-usd/--max-tokens, else exit 0 silently. PostToolUse, Stop, SubagentStop: publish "
            "the transcript lines (subagent files included) added since the last call."
        ),
    )
    parser.add_argument("--max-usd", type=usd_amount, default=None, help="cost limit in US dollars")
    parser.add_argument("--max-tokens", type=token_count, default=None, help="token limit (all auth modes)")
    parser.add_argument(
        "--enforce",
        action="store_true",
        help="block on --max-usd under subscription auth too (default: advisory there)",
    )
    parser.add_argument(
        "--on-error",
        choices=("allow", "deny"),
        default="allow",
        help="when the hook fails (no worker, no broker, a bug): allow (exit 1) or deny (exit 2)",
    )
    parser.add_argument(
        "--auth-mode",
        choices=("api_key", "subscription"),
        default=None,
        help="how this usage is billed (default: $SPENDSTREAM_AUTH_MODE, the CLI's report, the environment)",
    )
    parser.set_defaults(handler=run)


def _failed(args: argparse.Namespace, event: str, what: str) -> int:
    if event in PUBLISHING_EVENTS:
        print(f"spendstream hook: {event} failed: {what}", file=sys.stderr)
        return EXIT_NON_BLOCKING
    allow = args.on_error == "allow"
    outcome = "allowed" if allow else "denied"
    line = f"spendstream hook: {event} failed: {what}; {outcome} (--on-error {args.on_error})"
    print(line, file=sys.stderr)
    return EXIT_NON_BLOCKING if allow else EXIT_BLOCK


def _check(args: argparse.Namespace, settings: Settings, hook: HookInput) -> int:
    limits = Limits(args.max_usd, args.max_tokens, enforce_advisory=args.enforce)
    if not limits.any:
        return 0
    scope = budget_scope(hook, os.environ)
    token = settings.worker_token.get_secret_value() if settings.worker_token is not None else None
    record = fetch_scope_totals(settings.worker_base_url, scope, _TOTALS_TIMEOUT_S, token)
    verdict = judge(record, limits) if record is not None else None
    if verdict is None:
        return 0
    if verdict.stop:
        print(
            f"spendstream budget exceeded: scope {scope} has spent {verdict.spent} ({verdict.what}) "
            f"over its limit of {verdict.limit}; this tool call is blocked. Stop and report to the user.",
            file=sys.stderr,
        )
        return EXIT_BLOCK
    print(
        f"spendstream budget advisory: scope {scope} cost {verdict.spent} > {verdict.limit} under "
        "subscription auth (notional cost): not blocked",
        file=sys.stderr,
    )
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    log_to_file(settings, getattr(args, "verbose", False), name="hook")
    event = "hook"
    try:
        hook = read_hook_input(sys.stdin.buffer.read())
        event = hook.event
        if hook.event in CHECKING_EVENTS:
            return _check(args, settings, hook)
        if hook.event in PUBLISHING_EVENTS:
            auth = runner_auth(args.auth_mode or settings.auth_mode, os.environ)
            origin = Origin(settings.runner_id, publish_scope(os.environ), auth=auth)
            published = asyncio.run(publish_transcripts(settings, hook, origin))
            if published.left_in_spool:
                what = (
                    f"broker unreachable, {published.left_in_spool} transcript lines kept in the spool "
                    "(the next hook or `spendstream spool drain` sends them)"
                )
                return _failed(args, event, what)
        return 0
    except HookInputError as exc:
        return _failed(args, event, f"bad hook input: {exc}")
    except AccessRefused as exc:  # nothing was spooled: these lines can never be sent as they are
        return _failed(args, event, str(exc))
    except Exception as exc:  # a hook must never fail silently, whatever failed
        return _failed(args, event, f"{type(exc).__name__}: {exc}")
