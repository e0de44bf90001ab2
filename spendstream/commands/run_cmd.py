"""``spendstream run [options] -- COMMAND...``: wrap an agent CLI and publish its usage lines.

Standard output, standard error and the exit status of COMMAND pass through unchanged,
so spendstream itself writes nothing to them: its diagnostics go to
``<state_dir>/logs/run.log`` (and to stderr as well with ``spendstream -v run``). One
exception, so that a run never publishes nothing in silence: without ``--format`` or a
format in the command line, and with no recognisable line in the output, one line on
stderr at the end says so (``--quiet``: not even that).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from logging.handlers import RotatingFileHandler

from config.settings import Settings
from producers.auth import runner_auth
from producers.formats import detect_command_format
from producers.guard import DEFAULT_GRACE_S, BudgetUnavailable, Limits
from producers.lineage import LineageError, child_scope
from producers.run import RunRequest, supervise
from spendstream.commands.budget_cmd import EXIT_EXCEEDED, token_count, usd_amount
from spendstream.commands.publish_cmd import add_producer_options

# --fail-closed and the live totals cannot be followed: the command was not started.
EXIT_NOT_ENFORCED = 4

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run an agent CLI, pass its output through, publish its usage lines",
        usage="spendstream run [options] -- COMMAND [ARG...]",
        description=(
            "Run COMMAND with stdin, stdout, stderr and exit status passed through unchanged, and "
            "publish its result lines as they appear (redacted unless --keep-content). The command "
            "gets SPENDSTREAM_SESSION (its own new scope id) and SPENDSTREAM_LINEAGE (its "
            "ancestors, root first), so a `spendstream run` inside it is recorded as its child. "
            "Kafka trouble never changes the command's result: lines are spooled instead."
        ),
    )
    add_producer_options(
        parser,
        format_help=(
            "format of the command's output (default: detected from the command line: claude -p "
            "--output-format json|stream-json, codex exec --json, gemini --output-format json; "
            "else from the first recognisable line of the output)"
        ),
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="do not print the end-of-run line saying no usage line was recognised in the output",
    )
    parser.add_argument("--session", default=None, help="scope id for this run (default: a new UUID)")
    add_limit_options(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND", help="command to run")
    parser.set_defaults(handler=run)


def log_to_file(settings: Settings, verbose: bool, name: str = "run") -> None:
    """Keep stderr for the wrapped command: spendstream's own messages go to a log file."""
    root = logging.getLogger()
    if not verbose:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(logging.INFO)  # the file keeps what stderr, quiet by default, does not show
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
    try:
        folder = settings.state_dir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(folder / f"{name}.log", maxBytes=5_000_000, backupCount=2, delay=True)
    except OSError:
        root.addHandler(logging.NullHandler())
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def _exit_like(returncode: int) -> int:
    """A child killed by a signal: end the same way, so our parent sees what it would have."""
    if returncode >= 0:
        return returncode
    signum = -returncode
    sys.stdout.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # signals that do not end a process by default


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from exc
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a non-negative number of seconds: {text!r}")
    return value


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "budget",
        "follow this run's live subtree total (nested runs and in-flight subagents included) and "
        f"stop the command's process tree the moment it exceeds a limit: exit status {EXIT_EXCEEDED}",
    )
    group.add_argument("--max-usd", type=usd_amount, default=None, help="cost limit in US dollars, e.g. 1.00")
    group.add_argument("--max-tokens", type=token_count, default=None, help="token limit (all auth modes)")
    group.add_argument(
        "--grace",
        type=_seconds,
        default=DEFAULT_GRACE_S,
        help=f"seconds from SIGTERM to SIGKILL of the command's process group (default {DEFAULT_GRACE_S:g})",
    )
    group.add_argument(
        "--enforce",
        action="store_true",
        help="stop on --max-usd under subscription auth too (default: advisory there, one warning)",
    )
    group.add_argument(
        "--fail-closed",
        action="store_true",
        help=f"refuse to start (exit {EXIT_NOT_ENFORCED}) when the live totals cannot be followed",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    argv = list(args.command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("spendstream run: no command given (spendstream run [options] -- COMMAND ...)", file=sys.stderr)
        return 2
    log_to_file(settings, getattr(args, "verbose", False))
    try:
        scope = child_scope(os.environ, lineage_flag=args.lineage, scope_id=args.session)
    except LineageError as exc:
        if args.lineage is not None or args.session is not None:
            print(f"spendstream run: {exc}", file=sys.stderr)
            return 2
        log.warning("ignoring the inherited lineage (%s): this run is a root", exc)
        scope = child_scope({})
    fmt = args.format or detect_command_format(argv)
    request = RunRequest(
        argv,
        fmt,
        scope,
        dict(args.label),
        args.keep_content,
        quiet=args.quiet,
        auth=runner_auth(args.auth_mode or settings.auth_mode, os.environ),
        limits=Limits(args.max_usd, args.max_tokens, enforce_advisory=args.enforce),
        grace_s=args.grace,
        fail_closed=args.fail_closed,
    )
    try:
        outcome = asyncio.run(supervise(settings, request, fmt))
    except BudgetUnavailable as exc:
        print(f"spendstream run: {exc}", file=sys.stderr)
        return EXIT_NOT_ENFORCED
    if outcome.stopped is not None:
        return EXIT_EXCEEDED
    return _exit_like(outcome.returncode)
