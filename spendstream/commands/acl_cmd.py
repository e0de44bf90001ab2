"""``spendstream acl apply``: the roles' ACLs (config/acl.py) on an existing cluster."""

from __future__ import annotations

import argparse
import asyncio
import sys

from config.acl import ROLES, acl_matrix, render_matrix
from config.acl_admin import AclError, apply_acls
from config.settings import Settings


def _principal(text: str) -> tuple[str, str]:
    role, sep, name = text.partition("=")
    if not sep or role not in ROLES or not name:
        raise argparse.ArgumentTypeError(f"expected ROLE=USER with ROLE one of {', '.join(ROLES)}: {text!r}")
    return role, name


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "acl",
        help="print and apply the per-role Kafka ACLs (runner, worker, analyst, budget)",
        description=(
            "Print the ACLs each role needs for a topic prefix, then create them on the cluster of "
            "SPENDSTREAM_BROKER through the Kafka admin API, as the SPENDSTREAM_SASL_USERNAME user "
            "(it needs the right to alter the cluster's ACLs, e.g. a super user). Applying twice "
            "is harmless. Each role is the principal User:<role> unless --principal renames it."
        ),
    )
    parser.add_argument("action", choices=["apply"])
    parser.add_argument("--prefix", help="topic prefix (default: SPENDSTREAM_TOPIC_PREFIX)")
    parser.add_argument(
        "--principal",
        action="append",
        type=_principal,
        default=[],
        metavar="ROLE=USER",
        help="the user name of a role (repeatable), e.g. --principal runner=ci-runners",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the ACLs only; change nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    prefix = args.prefix or settings.topic_prefix
    acls = acl_matrix(prefix, dict(args.principal))
    print(render_matrix(acls))
    if args.dry_run:
        print(f"dry run: {len(acls)} ACLs for prefix {prefix!r}, none applied", file=sys.stderr)
        return 0
    try:
        count = asyncio.run(apply_acls(settings, acls))
    except AclError as exc:
        print(f"spendstream acl: {exc}", file=sys.stderr)
        return 1
    print(f"applied {count} ACLs for prefix {prefix!r} on {settings.bootstrap_servers}", file=sys.stderr)
    return 0
