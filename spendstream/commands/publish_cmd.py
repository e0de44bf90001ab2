"""``spendstream publish``: files, folders (backfill) or stdin onto the raw topic.

Also home of the options that ``run`` and ``watch`` share with it (labels, lineage,
content, logging of the producer side).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys

from config.settings import Settings
from producers.auth import declared_auth
from producers.formats import AUTO
from producers.lineage import LineageError, current_scope
from producers.packing import PackLimits
from producers.publish import PublishRequest, publish
from producers.shipper import NotDurable
from producers.spool import SpoolError, SpoolFull
from spendstream.commands.labels import parse_label

_FORMAT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def parse_format(text: str) -> str:
    if not _FORMAT.match(text):
        raise argparse.ArgumentTypeError(f"not a format name: {text!r}")
    return text


def add_producer_options(parser: argparse.ArgumentParser, *, format_help: str) -> None:
    """Options every producer command has."""
    parser.add_argument("--format", type=parse_format, default=None, help=format_help)
    parser.add_argument(
        "--lineage",
        default=None,
        help="ancestor scope ids, root first, comma-separated (default: $SPENDSTREAM_LINEAGE)",
    )
    parser.add_argument(
        "--label",
        action="append",
        type=parse_label,
        default=[],
        metavar="K=V",
        help="free label, sent as header ss-label-K (repeatable)",
    )
    parser.add_argument(
        "--auth-mode",
        choices=("api_key", "subscription"),
        default=None,
        help=(
            "how this usage is billed (default: $SPENDSTREAM_AUTH_MODE, else what the CLI reports, "
            "else for run/watch/hook the environment: an API key or Bedrock/Vertex variable means "
            "api_key, only a Claude credentials file means subscription); only the mode is sent"
        ),
    )
    parser.add_argument(
        "--keep-content",
        action="store_true",
        help="publish lines as they are; by default prompts, code and model output are removed",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_packing_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that may pack lines of one file into one record."""
    parser.add_argument(
        "--pack-lines",
        type=_positive,
        default=None,
        metavar="N",
        help="most consecutive lines of one file per record (default: $SPENDSTREAM_PACK_MAX_LINES, 500)",
    )
    parser.add_argument(
        "--pack-bytes",
        type=_positive,
        default=None,
        metavar="B",
        help="largest packed record value in bytes (default: $SPENDSTREAM_PACK_MAX_BYTES, 512 KiB)",
    )
    parser.add_argument("--no-pack", action="store_true", help="one line per record (same as --pack-lines 1)")


def packing_from(args: argparse.Namespace, settings: Settings) -> PackLimits:
    """The packing limits the options ask for; raises ValueError when out of range."""
    if args.no_pack:
        return PackLimits(1)
    lines = args.pack_lines if args.pack_lines is not None else settings.pack_max_lines
    size = args.pack_bytes if args.pack_bytes is not None else settings.pack_max_bytes
    return PackLimits(lines, size)


def quiet_kafka_client(verbose: bool) -> None:
    """aiokafka logs every failed connection; spendstream reports the broker's state itself."""
    if not verbose:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish CLI output files, folders (backfill) or stdin to the raw topic",
        description=(
            "Publish each line of the given files (folders are walked for *.jsonl and *.json) to "
            "the raw topic, redacted unless --keep-content; consecutive lines of one file share a "
            "record (--pack-lines, --pack-bytes, --no-pack). Headers carry the format, runner id "
            "and the lines' positions, so re-publishing the same file is harmless. When the broker "
            "is unreachable the lines are spooled and sent later."
        ),
    )
    parser.add_argument(
        "files", nargs="*", default=["-"], metavar="PATH", help="files or folders to publish; - is stdin"
    )
    add_producer_options(
        parser, format_help="input format (default: auto, detected per file from its path and first line)"
    )
    parser.add_argument(
        "--session", default=None, help="scope id of these lines (default: $SPENDSTREAM_SESSION)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    add_packing_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    quiet_kafka_client(getattr(args, "verbose", False))
    try:
        scope = current_scope(os.environ, lineage_flag=args.lineage, session_flag=args.session)
    except LineageError as exc:
        print(f"spendstream publish: {exc}", file=sys.stderr)
        return 2
    try:
        packing = packing_from(args, settings)
    except ValueError as exc:
        print(f"spendstream publish: {exc}", file=sys.stderr)
        return 2
    request = PublishRequest(
        paths=tuple(args.files),
        source=args.format or AUTO,
        lineage=scope.lineage,
        session_hint=scope.session,
        labels=dict(args.label),
        keep_content=args.keep_content,
        progress=not args.no_progress,
        packing=packing,
        auth=declared_auth(args.auth_mode or settings.auth_mode),
    )
    try:
        asyncio.run(publish(settings, request))
    except FileNotFoundError as exc:
        print(f"spendstream publish: no such file: {exc.filename}", file=sys.stderr)
        return 2
    except (SpoolFull, SpoolError, NotDurable) as exc:
        print(f"spendstream publish: stopped, lines could not be kept: {exc}", file=sys.stderr)
        print("re-run the same command later: already published lines are recognised", file=sys.stderr)
        return 3
    return 0
