"""Subcommands of ``spendstream``; each module's ``register`` adds one (or a group).

Modules are imported only when needed: ``spendstream parse ...`` imports the parse module
alone (a command's start-up time is the user's wait: ``hook`` runs before every tool call,
``parse`` competes with native tools), ``spendstream --help`` imports them all.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

# command name -> module in this package, in the order ``--help`` lists them
MODULES: dict[str, str] = {
    "broker": "broker_cmd",
    "worker": "worker_cmd",
    "publish": "publish_cmd",
    "parse": "parse_cmd",
    "prices": "prices_cmd",
    "run": "run_cmd",
    "watch": "watch_cmd",
    "spool": "spool_cmd",
    "query": "query_cmd",
    "demo": "demo_cmd",
    "budget": "budget_cmd",
    "hook": "hook_cmd",
    "report": "report_cmd",
    "compact": "compact_cmd",
    "reconcile": "reconcile_cmd",
    "serve": "serve_cmd",
    "runner-key": "runner_key_cmd",
    "acl": "acl_cmd",
}


def register_of(name: str) -> Register:
    module = importlib.import_module(f"{__name__}.{MODULES[name]}")
    register: Register = module.register
    return register


def commands_for(argv: Sequence[str]) -> list[Register]:
    """The registers to build a parser for ``argv``: the named command's alone when the
    first word that is not an option names one, else every command's."""
    words = [word for word in argv if not word.startswith("-")]
    if words and words[0] in MODULES:
        return [register_of(words[0])]
    return [register_of(name) for name in MODULES]
