"""``spendstream run``: run a CLI, pass its output and exit status through, publish its usage lines.

The wrapped command gets the new scope in its environment (producers/lineage.py), keeps
our stdin and stderr, and its stdout is copied through by producers/passthrough.py.
Publishing happens beside it and can only fail quietly: a broker that is down means the
lines are spooled; anything worse is logged, and the command's result is untouched.

Format: ``--format``, else the command line (``claude -p --output-format json`` ...), else
the first recognisable line of the output (a script that calls the CLI inside names no
format): the lines before it are not published. A run without ``--format`` whose output
held no recognisable line ends with ONE line on stderr saying so (:func:`end_of_run_note`),
unless ``--quiet``: otherwise it would publish nothing and say nothing.

Signals: SIGTERM, SIGHUP, SIGUSR1/2 are forwarded. SIGINT is forwarded only when it
cannot have come from the terminal (a Ctrl-C reaches the child directly; a second copy
would make some CLIs quit instead of stopping the current turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from config.access import AccessRefused
from config.settings import Settings
from producers.auth import AuthEvidence
from producers.claims import ClaimReader, ClaimWriter, claims_file
from producers.emit import Emitter, Origin, run_stream_id
from producers.formats import DOCUMENT_FORMATS, detect_output_format
from producers.guard import DEFAULT_GRACE_S, Guard, Limits, Verdict, start_guard
from producers.lineage import ENV_SESSION, Scope
from producers.passthrough import Delivery, Document, Lines, Passthrough
from producers.redact import is_known
from producers.shipper import Shipper

log = logging.getLogger(__name__)

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
_EOF_GRACE_S = 5.0  # a background grandchild may keep our stdout pipe open for ever


@dataclass(frozen=True)
class RunRequest:
    argv: Sequence[str]
    fmt: str | None
    scope: Scope
    labels: Mapping[str, str] = field(default_factory=dict)
    keep_content: bool = False
    quiet: bool = False
    auth: AuthEvidence | None = None
    limits: Limits = field(default_factory=Limits)
    grace_s: float = DEFAULT_GRACE_S
    fail_closed: bool = False


@dataclass
class RunOutcome:
    returncode: int  # negative: killed by that signal
    stopped: Verdict | None = None  # the budget verdict that stopped the command, if one did


@dataclass
class OutputSeen:
    """What the publisher learnt about the command's output, for the end-of-run note."""

    detected: str | None = None  # the format its first recognisable line gave
    nested_lines: bool = False  # lines a nested ``spendstream run`` passed through (its to explain)
    refused: str | None = None  # the broker refused this runner (password, ACL): said at the end


def end_of_run_note(request: RunRequest, fmt: str | None, seen: OutputSeen) -> str | None:
    """The line ``run`` prints on stderr at its end, if any: no format was given or found in
    the command line, and the output held no recognisable line of its own; or the broker
    refused this runner (its lines are lost: a refusal is never spooled)."""
    if seen.refused is not None:
        return f"spendstream run: {seen.refused}; this run's lines are not published (nothing spooled)"
    if fmt is not None or seen.detected is not None or seen.nested_lines or request.quiet:
        return None
    # The program only: the arguments can hold a prompt (claude -p "...") or a secret.
    command = shlex.quote(request.argv[0]) if request.argv else "the command"
    return f"spendstream run: no usage lines recognised in the output of {command}; pass --format"


def _from_terminal() -> bool:
    """Whether we are in the terminal's foreground group (so Ctrl-C reached the child too)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _install_forwarding(
    loop: asyncio.AbstractEventLoop, child: subprocess.Popen[bytes], own_group: bool
) -> None:
    """In its own process group (a budget), the command's whole group gets the signals,
    and a Ctrl-C, which then reaches only us, is forwarded too."""

    def forward(signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if own_group:
                os.killpg(child.pid, signum)
            else:
                child.send_signal(signum)

    for signum in _FORWARDED:
        loop.add_signal_handler(signum, forward, signum)
    interactive = _from_terminal() and not own_group
    loop.add_signal_handler(signal.SIGINT, lambda: None if interactive else forward(signal.SIGINT))


def _publishable(fmt: str, line: bytes) -> bool:
    """Known formats are JSON lines: other stdout lines (banners, text) are not usage."""
    stripped = line.strip()
    if not stripped:
        return False
    return stripped.startswith(b"{") if is_known(fmt) else True


async def _emit_document(emitter: Emitter, fmt: str, stream_id: str, doc: Document) -> None:
    try:
        value = orjson.loads(doc.data)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        await emitter.emit(fmt, stream_id, 1, orjson.dumps(value))
        return
    log.warning("the output of a %s run is not one JSON document: publishing its JSON lines", fmt)
    for number, line in enumerate(doc.data.split(b"\n"), start=1):
        if _publishable(fmt, line):
            await emitter.emit(fmt, stream_id, number, line)


async def _detect_output_format(
    queue: asyncio.Queue[Delivery | None], nested: ClaimReader, seen: OutputSeen
) -> tuple[str | None, Lines]:
    """Reads the output until a line of its own is recognisable: that line's format, and the
    lines from it on of its batch; (None, []) at the end of an output with none."""
    while (item := await queue.get()) is not None:
        assert not isinstance(item, Document)  # document mode needs a known format
        own = [(number, line) for number, line in item if not nested.seen(line)]
        seen.nested_lines |= len(own) < len(item)
        found = detect_output_format(line for _, line in own)
        if found is not None:
            index, seen.detected = found
            log.info("format %s detected from line %d of the output", seen.detected, own[index][0])
            return seen.detected, own[index:]
    log.warning("no usage format in the command line or its output; pass --format to publish it")
    return None, []


async def _publish(
    settings: Settings,
    request: RunRequest,
    fmt: str | None,
    queue: asyncio.Queue[Delivery | None],
    nested: ClaimReader,
    seen: OutputSeen,
) -> None:
    assert request.scope.session is not None
    first: Lines = []
    if fmt is None:
        fmt, first = await _detect_output_format(queue, nested, seen)
        if fmt is None:
            return
    stream_id = run_stream_id(settings.runner_id, request.scope.session)
    origin = Origin(settings.runner_id, request.scope, request.labels, request.keep_content, request.auth)
    shipper = Shipper(settings, overflow_ok=True)
    try:
        await shipper.start()
        emitter = Emitter(shipper, origin, max_record_bytes=settings.max_record_bytes)
        item: Delivery | None = first
        while item is not None:
            if isinstance(item, Document):
                await _emit_document(emitter, fmt, stream_id, item)
            else:
                for number, line in item:
                    if _publishable(fmt, line) and not nested.seen(line):
                        await emitter.emit(fmt, stream_id, number, line)
            item = await queue.get()
    finally:
        await shipper.close()
        stats = shipper.stats
        log.info("run %s: %d lines sent, %d spooled", request.scope.session, stats.sent, stats.spooled)


async def _publish_quietly(
    settings: Settings,
    request: RunRequest,
    fmt: str | None,
    queue: asyncio.Queue[Delivery | None],
    nested: ClaimReader,
    seen: OutputSeen,
) -> None:
    try:
        await _publish(settings, request, fmt, queue, nested, seen)
    except AccessRefused as exc:  # terminal: said in one line at the end of the run, no traceback
        seen.refused = str(exc)
        log.error(
            "%s; this run's lines are not published (nothing spooled), the command is not affected", exc
        )
    except Exception:
        log.exception("publishing this run's lines failed; the command is not affected")


def _parent_claims(settings: Settings, scope: Scope) -> ClaimWriter | None:
    """Where to claim passed-through lines: only when running inside that parent run here."""
    parent = os.environ.get(ENV_SESSION, "").strip()
    if not parent or not scope.lineage or scope.lineage[-1] != parent:
        return None
    try:
        return ClaimWriter(claims_file(settings.state_dir / "runs", parent))
    except OSError as exc:
        log.warning("cannot tell the parent run which lines are published here: %s", exc)
        return None


def spawn(request: RunRequest) -> subprocess.Popen[bytes]:
    """The command; with a budget, in a process group of its own so the guard can stop its tree."""
    env = {**os.environ, **request.scope.child_env()}
    group = 0 if request.limits.any else -1
    return subprocess.Popen(list(request.argv), stdout=subprocess.PIPE, env=env, process_group=group)


async def supervise(settings: Settings, request: RunRequest, fmt: str | None) -> RunOutcome:
    """Run the command to its end. Raises BudgetUnavailable (``fail_closed``) before starting it."""
    assert request.scope.session is not None
    guard = None
    if request.limits.any:
        guard = await start_guard(
            settings, request.scope.session, request.limits, request.grace_s, fail_closed=request.fail_closed
        )
    try:
        return await _supervise(settings, request, fmt, guard)
    finally:
        if guard is not None:
            await guard.follower.close()


async def _supervise(
    settings: Settings, request: RunRequest, fmt: str | None, guard: Guard | None
) -> RunOutcome:
    loop = asyncio.get_running_loop()
    try:
        child = spawn(request)
    except FileNotFoundError:
        print(f"spendstream run: command not found: {request.argv[0]}", file=sys.stderr)
        return RunOutcome(127)
    except PermissionError:
        print(f"spendstream run: permission denied: {request.argv[0]}", file=sys.stderr)
        return RunOutcome(126)
    _install_forwarding(loop, child, own_group=request.limits.any)
    watching = loop.create_task(guard.watch(child.pid)) if guard is not None else None
    queue: asyncio.Queue[Delivery | None] = asyncio.Queue()
    assert child.stdout is not None and request.scope.session is not None

    def deliver(item: Delivery) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    claims = _parent_claims(settings, request.scope)
    nested = ClaimReader(claims_file(settings.state_dir / "runs", request.scope.session))
    copier = Passthrough(
        child.stdout.fileno(),
        sys.stdout.fileno(),
        deliver,
        document=fmt in DOCUMENT_FORMATS,
        claim=claims.claim if claims is not None else None,
    )
    copier.start()
    seen = OutputSeen()
    publisher = loop.create_task(_publish_quietly(settings, request, fmt, queue, nested, seen))
    returncode = await asyncio.to_thread(child.wait)
    if watching is not None:
        await _end_watch(watching, guard)
    await asyncio.to_thread(copier.join, _EOF_GRACE_S)
    queue.put_nowait(None)
    try:
        await asyncio.wait_for(publisher, settings.producer_timeout_seconds * 2 + 5)
    except TimeoutError:
        log.error("publishing did not finish in time; unsent lines are in the spool if they got there")
    with contextlib.suppress(OSError):
        child.stdout.close()
    nested.close()
    if claims is not None and not copier.is_alive():
        claims.close()
    if (note := end_of_run_note(request, fmt, seen)) is not None:
        print(note, file=sys.stderr, flush=True)
    return RunOutcome(returncode, guard.stopped if guard is not None else None)


async def _end_watch(watching: asyncio.Task[None], guard: Guard | None) -> None:
    """The command ended: a stop under way finishes (its SIGKILL included), else the watch ends."""
    if guard is not None and guard.stopped is not None:
        await watching
        return
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
