"""``spendstream watch [DIR...]``: follow agent transcripts as they grow and publish new lines."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from config.settings import Settings
from producers.auth import runner_auth
from producers.emit import Emitter, Origin
from producers.formats import AUTO, default_watch_roots
from producers.lineage import LineageError, Scope, current_scope
from producers.packing import PackLimits
from producers.positions import PositionStore, StoreLocked
from producers.shipper import Shipper
from producers.watch import Watcher, WatchRoot, run_watch
from spendstream.commands.publish_cmd import (
    add_packing_options,
    add_producer_options,
    packing_from,
    quiet_kafka_client,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="follow Claude Code / Codex transcript folders and publish new lines",
        description=(
            "Follow *.jsonl files under the given folders (default: ~/.claude/projects, "
            "~/.config/claude/projects or $CLAUDE_CONFIG_DIR/projects, and ~/.codex/sessions or "
            "$CODEX_HOME/sessions) as they grow, and publish each new complete line, redacted "
            "unless --keep-content. Positions are kept in <state_dir>/watch across restarts."
        ),
    )
    parser.add_argument("folders", nargs="*", metavar="DIR", help="folders (or files) to follow")
    add_producer_options(
        parser, format_help="format of the files (default: by folder, else detected per file)"
    )
    parser.add_argument(
        "--session", default=None, help="scope id of these lines (default: $SPENDSTREAM_SESSION)"
    )
    parser.add_argument("--once", action="store_true", help="publish what is there now, then exit")
    add_packing_options(parser)
    parser.set_defaults(handler=run)


def _roots(args: argparse.Namespace) -> list[WatchRoot]:
    if args.folders:
        return [WatchRoot(Path(folder).expanduser(), args.format or AUTO) for folder in args.folders]
    return [WatchRoot(Path(folder), args.format or fmt) for folder, fmt in default_watch_roots()]


async def _watch(
    settings: Settings, roots: list[WatchRoot], origin: Origin, once: bool, packing: PackLimits
) -> None:
    store = PositionStore(settings.state_dir / "watch")
    store.lock()
    try:
        store.load()
        shipper = Shipper(settings)
        await shipper.start()
        try:
            emitter = Emitter(shipper, origin, max_record_bytes=settings.max_record_bytes, packing=packing)
            watcher = Watcher(emitter, store, roots)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(signum, stop.set)
            if once:
                while await watcher.poll_once():
                    pass
            else:
                await run_watch(watcher, stop, settings.watch_poll_seconds)
        finally:
            await shipper.close()
    finally:
        store.unlock()


def run(args: argparse.Namespace, settings: Settings) -> int:
    quiet_kafka_client(getattr(args, "verbose", False))
    try:
        scope = current_scope(os.environ, lineage_flag=args.lineage, session_flag=args.session)
    except LineageError as exc:
        print(f"spendstream watch: {exc}", file=sys.stderr)
        return 2
    try:
        packing = packing_from(args, settings)
    except ValueError as exc:
        print(f"spendstream watch: {exc}", file=sys.stderr)
        return 2
    roots = _roots(args)
    origin = Origin(
        settings.runner_id,
        Scope(scope.session, scope.lineage),
        dict(args.label),
        args.keep_content,
        runner_auth(args.auth_mode or settings.auth_mode, os.environ),
    )
    print(f"spendstream watch: watching {', '.join(str(root.path) for root in roots)}", file=sys.stderr)
    try:
        asyncio.run(_watch(settings, roots, origin, args.once, packing))
    except StoreLocked as exc:
        print(f"spendstream watch: {exc}", file=sys.stderr)
        return 2
    return 0
