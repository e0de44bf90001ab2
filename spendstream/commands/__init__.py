"""Subcommands of ``spendstream``; each module's ``register`` adds one (or a group)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from spendstream.commands import (
    acl_cmd,
    broker_cmd,
    budget_cmd,
    compact_cmd,
    demo_cmd,
    hook_cmd,
    parse_cmd,
    prices_cmd,
    publish_cmd,
    query_cmd,
    reconcile_cmd,
    report_cmd,
    run_cmd,
    serve_cmd,
    spool_cmd,
    watch_cmd,
    worker_cmd,
)

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

COMMANDS: list[Register] = [
    broker_cmd.register,
    acl_cmd.register,
    worker_cmd.register,
    publish_cmd.register,
    parse_cmd.register,
    prices_cmd.register,
    run_cmd.register,
    watch_cmd.register,
    spool_cmd.register,
    query_cmd.register,
    demo_cmd.register,
    budget_cmd.register,
    hook_cmd.register,
    report_cmd.register,
    compact_cmd.register,
    reconcile_cmd.register,
    serve_cmd.register,
]
