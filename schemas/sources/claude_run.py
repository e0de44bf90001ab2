"""One Claude run seen three ways: ``claude -p`` json results, stream-json messages (and
their results) and transcript lines (subagent files included) are views of the same API
responses, and may all arrive, from any producers, in any order.

The rule that makes them count once (schemas/sources/README.md, "Cross-view
reconciliation"; the arithmetic is schemas/ledger.py's groups):
- Every view's usage of CLI session ``S`` is in group :func:`run_group` ``claude:S``
  (``S`` is the parent's session for subagent lines; their scope stays the subagent's).
  All of it is routed to one ledger state (schemas/accounting.py::ledger_key).
- A response (an ``assistant`` message) is a part, identity :func:`message_identity`
  ``claude:S:<message.id>`` in the transcript AND in stream-json: the one identity both
  can compute (stream-json has no ``requestId``). Its lines max-merge: the largest wins.
- A result is a total of its model (``modelUsage`` key, else the result's ``model``, else
  none: a total of the whole session). Per model the group counts the larger of the sum of
  messages and the SUM of results, each result identity counted once.
"""

from __future__ import annotations

FAMILY = "claude"


def run_group(session_id: str) -> str:
    """The group of every Claude view of CLI session ``session_id``."""
    return f"{FAMILY}:{session_id}"


def message_identity(session_id: str, message_id: str) -> str:
    """One API response of session ``session_id``, as transcripts and stream-json name it."""
    return f"{FAMILY}:{session_id}:{message_id}"
