"""``spendstream runner-key RUNNER_ID --out FILE``: a runner's signing key, for provisioning.

The key is derived from the fleet secret (``SPENDSTREAM_RUNNER_SECRET``, schemas/signing.py)
and is valid for that one runner id: the runner gets it as ``SPENDSTREAM_RUNNER_KEY`` with
``SPENDSTREAM_RUNNER_ID=RUNNER_ID``. Only the derived key is written, never the fleet
secret; to a new file readable by its owner only (0600), or to standard output with
``--out -`` (for a secrets manager's pipe), never to a log.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from config.settings import Settings
from schemas.signing import RunnerKeyError, derive_runner_key, fleet_secret_bytes


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "runner-key",
        help="derive a runner's signing key from SPENDSTREAM_RUNNER_SECRET (SECURITY.md)",
        description=(
            "Write the signing key of RUNNER_ID (64 hex characters) derived from the fleet secret "
            "SPENDSTREAM_RUNNER_SECRET, for that runner's SPENDSTREAM_RUNNER_KEY. The file is "
            "created with mode 0600 and never overwritten; --out - writes to standard output."
        ),
    )
    parser.add_argument("runner_id", metavar="RUNNER_ID", help="the runner's SPENDSTREAM_RUNNER_ID")
    parser.add_argument("--out", required=True, help="new file to write the key to (0600), or - for stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    runner_id: str = args.runner_id
    if not runner_id or ":" in runner_id or len(runner_id) > 200:
        print("spendstream runner-key: a runner id is 1-200 characters without ':'", file=sys.stderr)
        return 2
    if settings.runner_secret is None:
        print("spendstream runner-key: SPENDSTREAM_RUNNER_SECRET is not set", file=sys.stderr)
        return 2
    try:
        secret = fleet_secret_bytes(settings.runner_secret.get_secret_value())
    except RunnerKeyError as exc:
        print(f"spendstream runner-key: {exc}", file=sys.stderr)
        return 2
    text = derive_runner_key(secret, runner_id).hex() + "\n"
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.out)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"spendstream runner-key: {path} exists; not overwritten", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"spendstream runner-key: cannot create {path}: {exc.strerror}", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    print(f"spendstream runner-key: key of runner {runner_id} written to {path} (mode 0600)", file=sys.stderr)
    return 0
