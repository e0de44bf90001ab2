"""``spendstream hook``: a Claude Code hook that checks a budget and publishes transcripts.

Input: one JSON object on stdin (Claude Code's hooks reference, "Hook input"): the common
fields ``session_id``, ``transcript_path``, ``cwd``, ``hook_event_name`` (plus
``permission_mode`` ...), and per event ``tool_name``/``tool_input``/``tool_use_id``
(PreToolUse), ``tool_response`` (PostToolUse), ``stop_hook_active`` (Stop, SubagentStop),
``agent_id``/``agent_transcript_path`` (SubagentStop, newer builds). Only the session, the
paths and the event name are read: a tool's input or output never is.

Scope: the Claude session; inside a ``spendstream run`` (``SPENDSTREAM_LINEAGE`` set) the
lines belong to the enclosing run (its scope and lineage, as ``watch`` inside a run) and
the budget is the run TREE's: the root's subtree, which sees every agent's spend.

Publishing (PostToolUse, Stop, SubagentStop): the session file and the session's
``<session>/subagents/*.jsonl`` (and SubagentStop's ``agent_transcript_path``) are read
from where the last call for this session left each file (producers/watch.py's Watcher
and positions, in ``<state_dir>/hooks/<session digest>/``), so each line goes out once
however often the hook runs. Concurrent hooks of one session (parallel tool calls) take
turns on that folder's lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from config.settings import Settings
from producers.emit import Emitter, Origin
from producers.lineage import ENV_LINEAGE, Scope, current_scope
from producers.positions import PositionStore, StoreLocked
from producers.shipper import Shipper
from producers.watch import Watcher, WatchRoot
from schemas.usage import event_id_for

TRANSCRIPT_FORMAT = "claude-transcript"
CHECKING_EVENTS = ("PreToolUse",)
PUBLISHING_EVENTS = ("PostToolUse", "Stop", "SubagentStop")
_LOCK_WAIT_S = 20.0  # another hook of the same session publishing: wait our turn


class HookInputError(ValueError):
    """The hook's stdin is not the JSON Claude Code sends."""


@dataclass(frozen=True)
class HookInput:
    event: str
    session_id: str
    transcript_path: Path | None
    agent_transcript_path: Path | None = None


def _path(raw: Mapping[str, Any], name: str) -> Path | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HookInputError(f"{name} is not a string")
    return Path(value).expanduser()


def read_hook_input(data: bytes) -> HookInput:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise HookInputError(f"not JSON (at char {exc.pos})") from exc
    if not isinstance(raw, dict):
        raise HookInputError("not a JSON object")
    event, session = raw.get("hook_event_name"), raw.get("session_id")
    if not isinstance(event, str) or not event:
        raise HookInputError("no hook_event_name")
    if not isinstance(session, str) or not session:
        raise HookInputError("no session_id")
    return HookInput(event, session, _path(raw, "transcript_path"), _path(raw, "agent_transcript_path"))


def budget_scope(hook: HookInput, environ: Mapping[str, str]) -> str:
    """Whose subtree the budget is: the enclosing run tree's root, else the Claude session."""
    if ENV_LINEAGE not in environ:
        return hook.session_id
    scope = current_scope(environ)
    if scope.lineage:
        return scope.lineage[0]
    return scope.session or hook.session_id


def publish_scope(environ: Mapping[str, str]) -> Scope:
    """Whom the lines belong to: the enclosing run, if any (else the session the lines name)."""
    return current_scope(environ) if ENV_LINEAGE in environ else Scope(None)


def transcript_roots(hook: HookInput) -> list[WatchRoot]:
    """The session's file, its subagents' folder, and a finished subagent's own file."""
    roots: list[Path] = []
    if hook.transcript_path is not None:
        roots.append(hook.transcript_path)
        subagents = hook.transcript_path.with_suffix("") / "subagents"
        if subagents.is_dir():
            roots.append(subagents)
    if hook.agent_transcript_path is not None:
        roots.append(hook.agent_transcript_path)
    return [WatchRoot(path, TRANSCRIPT_FORMAT) for path in roots if path.exists()]


def _lock(store: PositionStore) -> None:
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            store.lock()
            return
        except StoreLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class Published:
    lines: int
    left_in_spool: int  # of them, kept in the spool: the broker could not be reached


async def publish_transcripts(settings: Settings, hook: HookInput, origin: Origin) -> Published:
    """Publish the lines added since this session's last hook (and older spooled ones).

    A broker that cannot be reached does not lose a line: it is spooled, the position moves
    on, and the next hook (or ``spendstream spool drain``) sends it; ``left_in_spool`` says so.
    """
    roots = transcript_roots(hook)
    if not roots:
        return Published(0, 0)
    store = PositionStore(settings.state_dir / "hooks" / event_id_for(hook.session_id)[:24])
    await asyncio.to_thread(_lock, store)
    try:
        store.load()
        shipper = Shipper(settings)
        await shipper.start()
        try:
            emitter = Emitter(shipper, origin, max_record_bytes=settings.max_record_bytes)
            watcher = Watcher(emitter, store, roots)
            published = 0
            while count := await watcher.poll_once():
                published += count
            await shipper.wait_drained(settings.producer_timeout_seconds)
        finally:
            await shipper.close()
        return Published(published, shipper.stats.left_in_spool)
    finally:
        store.unlock()
