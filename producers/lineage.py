"""Scope ids and their lineage, passed from a runner to its children like trace context.

``spendstream run`` gives the command it wraps a new scope id and tells it, through the
environment, who it is and who its ancestors are:

- ``SPENDSTREAM_SESSION``: the wrapped command's own scope id;
- ``SPENDSTREAM_LINEAGE``: its ancestors' scope ids, root first, comma-separated.

A ``spendstream run`` started inside it (an orchestrator launching a subagent) reads
both and becomes a child: its ancestors are the parent's lineage plus the parent's scope.
``publish`` and ``watch`` do not open a scope: their lines belong to the scope they run in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from schemas.raw import parse_lineage

ENV_SESSION = "SPENDSTREAM_SESSION"
ENV_LINEAGE = "SPENDSTREAM_LINEAGE"
_SCOPE_ID = re.compile(r"^[A-Za-z0-9._:@/+-]{1,200}$")
MAX_DEPTH = 64


class LineageError(ValueError):
    """A scope id or lineage from the flags or the environment is not usable."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Where records belong: ``session`` (may be None outside any run) and its ancestors."""

    session: str | None
    lineage: tuple[str, ...] = ()

    def child_env(self) -> dict[str, str]:
        """Environment entries for a process running inside this scope."""
        return {ENV_SESSION: self.session or "", ENV_LINEAGE: ",".join(self.lineage)}


def new_scope_id() -> str:
    return str(uuid.uuid4())


def _checked(ids: tuple[str, ...], what: str) -> tuple[str, ...]:
    for scope_id in ids:
        if not _SCOPE_ID.match(scope_id):
            raise LineageError(f"{what}: scope ids are 1-200 characters of [A-Za-z0-9._:@/+-]")
    if len(ids) > MAX_DEPTH:
        raise LineageError(f"{what}: deeper than {MAX_DEPTH} levels")
    return ids


def current_scope(
    environ: Mapping[str, str], *, lineage_flag: str | None = None, session_flag: str | None = None
) -> Scope:
    """The scope a ``publish`` or ``watch`` runs in: flags first, then the environment."""
    lineage_text = lineage_flag if lineage_flag is not None else environ.get(ENV_LINEAGE, "")
    lineage = _checked(parse_lineage(lineage_text), "lineage")
    session_text = session_flag if session_flag is not None else environ.get(ENV_SESSION, "")
    session = session_text.strip() or None
    if session is not None:
        _checked((session,), "session")
    return Scope(session, lineage)


def child_scope(
    environ: Mapping[str, str], *, lineage_flag: str | None = None, scope_id: str | None = None
) -> Scope:
    """The new scope of a ``run``: a child of the scope it was started in.

    ``--lineage`` states the new scope's ancestors outright; otherwise they are the
    enclosing run's lineage followed by the enclosing run's own scope id.
    """
    own = scope_id or new_scope_id()
    _checked((own,), "session")
    if lineage_flag is not None:
        return Scope(own, _checked(parse_lineage(lineage_flag), "lineage"))
    parent = current_scope(environ)
    ancestors = parent.lineage + ((parent.session,) if parent.session else ())
    return Scope(own, _checked(ancestors, "lineage"))
