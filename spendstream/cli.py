"""The ``spendstream`` command line: one subcommand per module in spendstream/commands/.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``handler`` (a function of the parsed args and the settings object returning an exit code).
Settings are built once here and passed down: ``Settings`` (pydantic), or for a command
that reads only what config/local_settings.py reads (``local_settings``: ``parse``,
``report``) that module's reading when the environment allows it, 100 ms sooner.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from config.local_settings import LocalSettings, local_settings
from schemas.signing import RunnerKeyError, fleet_secret_bytes, parse_runner_key
from spendstream.commands import commands_for
from spendstream.logs import configure_logging

if TYPE_CHECKING:
    from config.settings import Settings

EXIT_REFUSED = 77  # sysexits' EX_NOPERM: the broker refused this client's password or rights

_EPILOG = """\
Configuration comes from SPENDSTREAM_* environment variables (see README.md), e.g.
SPENDSTREAM_BROKER (existing cluster; unset = the local broker), SPENDSTREAM_DATA_DIR
(Parquet lake), SPENDSTREAM_TOPIC_PREFIX (topic and group name prefix).
"""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv`` (default: ``sys.argv[1:]``): with only the named command's
    module imported when it names one (spendstream/commands/__init__.py)."""
    parser = argparse.ArgumentParser(
        prog="spendstream",
        description=(
            "Exact, deduplicated token usage and cost of AI coding-agent fleets: publish CLI "
            "result lines to Kafka, normalize and roll them up in a Faust worker, query them "
            "in Parquet with DuckDB."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log everything (libraries too) at debug level, with timestamps",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in commands_for(sys.argv[1:] if argv is None else argv):
        register(subparsers)
    return parser


def secret_settings_problem(settings: Settings) -> str | None:
    """Why the runner key or fleet secret cannot be used (never quoting them), or None."""
    try:
        if settings.runner_key is not None:
            parse_runner_key(settings.runner_key.get_secret_value())
        if settings.runner_secret is not None:
            fleet_secret_bytes(settings.runner_secret.get_secret_value())
    except RunnerKeyError as exc:
        return str(exc)
    return None


def full_settings() -> Settings | str:
    """``Settings`` from the environment, or why not (to follow "invalid SPENDSTREAM_*
    setting:"). pydantic is imported here: ``parse`` and ``report`` mostly do without."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from config.settings import Settings

    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        return f"\n{exc}"
    problem = secret_settings_problem(settings)
    if problem is not None:
        return f" {problem}"
    return settings


# Set by main when its command asks to be left at once (``exit_at_once``; see ``entry``).
_exit_at_once = False


def main(argv: Sequence[str] | None = None) -> int:
    global _exit_at_once
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose, service=args.command == "worker")
    settings: Settings | LocalSettings | None = None
    if getattr(args, "local_settings", False):
        settings = local_settings(os.environ)
    if settings is None:
        built = full_settings()
        if isinstance(built, str):
            print(f"spendstream: invalid SPENDSTREAM_* setting:{built}", file=sys.stderr)
            return 2
        settings = built
    try:
        code: int = args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if isinstance(settings, LocalSettings):  # no broker is involved
            raise
        # Imported here: aiokafka and asyncio cost 80 ms, and `parse` or `hook` never need them.
        import asyncio

        from config.access import explain

        refused = asyncio.run(explain(exc, settings))
        if refused is None:
            raise
        # The broker refused this client's password or rights: one line, no traceback.
        print(f"spendstream {args.command}: {refused}", file=sys.stderr)
        return EXIT_REFUSED
    _exit_at_once = bool(getattr(args, "exit_at_once", False))
    return code


def entry() -> None:
    """The console script: :func:`main`, then its exit status. A one-shot command that has
    written and flushed its output (``parse``, ``report``: their pools shut down, their
    files and DuckDB closed) leaves at once: tearing down a process that parsed a large
    history (its modules and objects) took 40-50 ms, 4 % of `parse` on 1 GiB."""
    code = main()
    if _exit_at_once:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # a closed pipe: the usual exit reports it
            sys.exit(code)
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
