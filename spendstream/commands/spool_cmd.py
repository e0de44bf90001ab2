"""``spendstream spool status|drain``: what the producers hold locally, and sending it now.

Every producer command drains the spool of its topic when it starts, so ``drain`` is for
runners where no other spendstream command will run soon (or to check a backlog is gone).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from config.settings import Settings
from producers.shipper import Shipper
from producers.spool import SUFFIX
from spendstream.commands.publish_cmd import quiet_kafka_client


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("spool", help="show or drain the producers' local spool")
    actions = parser.add_subparsers(dest="spool_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="segments and bytes waiting, held lines")
    status.set_defaults(handler=show_status)
    drain = actions.add_parser("drain", help="send this topic prefix's spooled lines now")
    drain.add_argument(
        "--wait", type=float, default=None, help="seconds to keep trying (default: 3x the producer timeout)"
    )
    drain.set_defaults(handler=run_drain)


def _describe(root: Path) -> list[str]:
    lines = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir() and p.name not in ("held", "corrupt")):
        segments = sorted(folder.glob(f"*{SUFFIX}"))
        if segments:
            size = sum(seg.stat().st_size for seg in segments)
            lines.append(f"{folder.name}: {len(segments)} segment(s), {size} bytes waiting")
    for extra in ("held", "corrupt"):
        files = sorted((root / extra).glob("*")) if (root / extra).is_dir() else []
        if files:
            lines.append(f"{extra}: {len(files)} file(s) in {root / extra}")
    return lines


def show_status(args: argparse.Namespace, settings: Settings) -> int:
    root = settings.spool_path
    lines = _describe(root) if root.is_dir() else []
    print("\n".join(lines) if lines else f"spool {root} is empty")
    return 0


async def _drain(settings: Settings, wait_s: float) -> bool:
    shipper = Shipper(settings)
    await shipper.start()
    try:
        return await shipper.wait_drained(wait_s)
    finally:
        await shipper.close()


def run_drain(args: argparse.Namespace, settings: Settings) -> int:
    quiet_kafka_client(getattr(args, "verbose", False))
    wait_s = args.wait if args.wait is not None else settings.producer_timeout_seconds * 3
    drained = asyncio.run(_drain(settings, wait_s))
    if not drained:
        print(f"spendstream spool: could not empty the spool within {wait_s:.0f}s", file=sys.stderr)
        return 1
    print(f"spool for {settings.topic('raw')} is empty", file=sys.stderr)
    return 0
