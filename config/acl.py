"""Who may do what on a secured cluster: spendstream's roles and the Kafka ACLs each needs.

Each role is one Kafka principal (``User:<name>``, by default the role's name) with only
the rights its commands use, read from the code that runs as it:

- ``runner`` (``publish``, ``run``, ``watch``, ``hook``, ``spool``): writes ``raw`` with an
  idempotent producer (``producers/link.py``); reads nothing.
- ``worker`` (``worker`` with its lake sinks): consumes ``raw`` and its internal topics
  (``observations``, ``deltas``, which it also purges below its commits: DeleteRecords is
  the DELETE operation), writes ``usage``, ``totals``, ``windows`` and the dead-letter topic,
  and its lake sinks consume ``usage`` and the dead-letter topic in the groups
  ``<prefix>-sink`` and ``<prefix>-sink-deadletter``. Faust names its group, its table
  changelogs and its assignor topic after the app id ``<prefix>-worker``: a PREFIXED pattern
  on that id covers them. It creates the topics at start, ``alerts`` included.
- ``analyst``: reads ``usage`` and the dead-letter topic.
- ``budget`` (``budget``, ``budget --rules``, ``serve``'s live totals, ``reconcile``): reads
  ``totals``, ``windows`` and ``alerts``; ``budget --rules`` also writes ``alerts`` and,
  for label rules, reads ``usage``. Every reader here uses no consumer group.

Topics are named exactly (LITERAL): a runner allowed ``<prefix>.raw`` may not write a topic
that merely starts with it. No role may create anything else, alter configs, or use the
cluster's admin rights; the broker's own principal is the only super user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config.kafka import ALERTS, DEADLETTER, DELTAS, OBSERVATIONS, RAW, TOTALS, USAGE, WINDOWS

RUNNER, WORKER, ANALYST, BUDGET = "runner", "worker", "analyst", "budget"
ROLES: tuple[str, ...] = (RUNNER, WORKER, ANALYST, BUDGET)
CLUSTER_NAME = "kafka-cluster"  # the one name of Kafka's cluster resource


@dataclass(frozen=True)
class Acl:
    """One ALLOW rule: ``principal`` may ``operation`` on the resource (host: any)."""

    role: str
    principal: str
    resource_type: str  # TOPIC, GROUP, CLUSTER
    pattern_type: str  # LITERAL, PREFIXED
    resource_name: str
    operation: str  # READ, WRITE, CREATE, DELETE, DESCRIBE, IDEMPOTENT_WRITE


# Per role: (resource type, pattern type, name relative to the prefix, operations).
# "{p}" is the topic prefix; "{p}-worker" is Faust's app id (streams/runner/faust_app.py).
_Grant = tuple[str, str, str, tuple[str, ...]]
_READ = ("READ", "DESCRIBE")
_WRITE = ("WRITE", "DESCRIBE")
_GRANTS: Mapping[str, tuple[_Grant, ...]] = {
    RUNNER: (
        ("TOPIC", "LITERAL", f"{{p}}.{RAW}", _WRITE),
        ("CLUSTER", "LITERAL", CLUSTER_NAME, ("IDEMPOTENT_WRITE",)),
    ),
    WORKER: (
        ("TOPIC", "LITERAL", f"{{p}}.{RAW}", (*_READ, "CREATE")),
        ("TOPIC", "LITERAL", f"{{p}}.{OBSERVATIONS}", ("READ", "WRITE", "DESCRIBE", "CREATE", "DELETE")),
        ("TOPIC", "LITERAL", f"{{p}}.{DELTAS}", ("READ", "WRITE", "DESCRIBE", "CREATE", "DELETE")),
        ("TOPIC", "LITERAL", f"{{p}}.{USAGE}", ("READ", "WRITE", "DESCRIBE", "CREATE")),
        ("TOPIC", "LITERAL", f"{{p}}.{DEADLETTER}", ("READ", "WRITE", "DESCRIBE", "CREATE")),
        ("TOPIC", "LITERAL", f"{{p}}.{TOTALS}", (*_WRITE, "CREATE")),
        ("TOPIC", "LITERAL", f"{{p}}.{WINDOWS}", (*_WRITE, "CREATE")),
        ("TOPIC", "LITERAL", f"{{p}}.{ALERTS}", ("DESCRIBE", "CREATE")),
        ("TOPIC", "PREFIXED", "{p}-worker-", ("READ", "WRITE", "DESCRIBE", "CREATE")),
        ("GROUP", "PREFIXED", "{p}-worker", _READ),
        ("GROUP", "LITERAL", "{p}-sink", _READ),
        ("GROUP", "LITERAL", "{p}-sink-deadletter", _READ),
    ),
    ANALYST: (
        ("TOPIC", "LITERAL", f"{{p}}.{USAGE}", _READ),
        ("TOPIC", "LITERAL", f"{{p}}.{DEADLETTER}", _READ),
    ),
    BUDGET: (
        ("TOPIC", "LITERAL", f"{{p}}.{TOTALS}", _READ),
        ("TOPIC", "LITERAL", f"{{p}}.{WINDOWS}", _READ),
        ("TOPIC", "LITERAL", f"{{p}}.{ALERTS}", (*_READ, "WRITE")),
        ("TOPIC", "LITERAL", f"{{p}}.{USAGE}", _READ),
    ),
}


def principal_for(name: str) -> str:
    return name if name.startswith("User:") else f"User:{name}"


def acl_matrix(prefix: str, principals: Mapping[str, str] | None = None) -> list[Acl]:
    """Every ALLOW rule of every role for the topic prefix ``prefix``.

    ``principals`` maps a role to its user name (default: the role's name)."""
    names = dict(principals or {})
    unknown = sorted(set(names) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    acls: list[Acl] = []
    for role in ROLES:
        principal = principal_for(names.get(role, role))
        for resource_type, pattern, name, operations in _GRANTS[role]:
            resource = name.replace("{p}", prefix)
            acls.extend(Acl(role, principal, resource_type, pattern, resource, op) for op in operations)
    return acls


def render_matrix(acls: list[Acl]) -> str:
    """The rules as a table, one line per (principal, resource): operations joined."""
    rows: dict[tuple[str, str, str, str, str], list[str]] = {}
    for acl in acls:
        key = (acl.role, acl.principal, acl.resource_type, acl.pattern_type, acl.resource_name)
        rows.setdefault(key, []).append(acl.operation)
    header = ("role", "principal", "resource", "pattern", "name", "operations")
    lines = [header, *((*key, ",".join(ops)) for key, ops in rows.items())]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
