"""``spendstream publish``: raw CLI output lines onto the raw topic."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from producers.publish import PublishRequest, publish
from schemas.raw import parse_lineage
from schemas.sources import PARSERS
from spendstream.settings import Settings


def parse_label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"a label is key=value, got {text!r}")
    return key, value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish CLI output lines (files or stdin) to the raw topic",
        description=(
            "Publish each input line, byte for byte, as one record on the raw topic. Headers carry "
            "the format, runner id and the line's position, so re-publishing the same file is harmless."
        ),
    )
    parser.add_argument(
        "files", nargs="*", default=["-"], metavar="FILE", help="files to publish; - is stdin"
    )
    parser.add_argument("--format", default="claude-json", choices=sorted(PARSERS), help="input format")
    parser.add_argument(
        "--lineage",
        default=None,
        help="ancestor scope ids, root first, comma-separated (default: $SPENDSTREAM_LINEAGE)",
    )
    parser.add_argument(
        "--session", default=None, help="scope id of this run (default: $SPENDSTREAM_SESSION)"
    )
    parser.add_argument("--label", action="append", type=parse_label, default=[], metavar="K=V")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    lineage_text = args.lineage if args.lineage is not None else os.environ.get("SPENDSTREAM_LINEAGE", "")
    request = PublishRequest(
        paths=tuple(args.files),
        source=args.format,
        lineage=parse_lineage(lineage_text),
        session_hint=args.session or os.environ.get("SPENDSTREAM_SESSION") or None,
        labels=dict(args.label),
    )
    try:
        summary = asyncio.run(publish(settings, request))
    except FileNotFoundError as exc:
        print(f"spendstream publish: no such file: {exc.filename}", file=sys.stderr)
        return 2
    print(
        f"published {summary.lines} lines ({summary.bytes} bytes) from {summary.files} input(s)",
        file=sys.stderr,
    )
    return 0
