"""Keep ``spendstream worker`` running: restart the worker process when it stops on its own.

The worker is fail-stop: a batch that failed, a record Faust skipped (streams/faust_fixes.py)
or a broker lost while it starts ends the process, and a restart replays from the committed
offsets, which every stage absorbs. This supervisor is that restart, for users without
systemd or an orchestrator: it runs the worker as a child process and starts it again, with
backoff, unless it ended cleanly (exit 0), ended on a configuration error (exit 2) or was
told to stop (SIGTERM/SIGINT are passed on to the child, and the supervisor then exits with
the child's code). A child never outlives its supervisor: it is killed if the supervisor
dies (Linux ``PR_SET_PDEATHSIG``), so a SIGKILL of ``spendstream worker`` still kills the
worker, as a crash would.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from types import FrameType

from streams.metrics import RESTARTS_ENV
from streams.runner.io import FAIL_STOP_EXIT_CODE, RECOVERY_STALLED_EXIT_CODE

CHILD_ENV = "SPENDSTREAM_WORKER_CHILD"
# Why a child stopped, by exit code (streams/runner/): passed to the next child, which shows
# the counts on /metrics (``restarts``).
STOP_REASONS = {FAIL_STOP_EXIT_CODE: "fail_stop", RECOVERY_STALLED_EXIT_CODE: "recovery_stalled"}
NO_RESTART_CODES = frozenset({0, 2})
FIRST_DELAY, MAX_DELAY = 1.0, 30.0
STABLE_SECONDS = 60.0  # a child that ran this long restarts after FIRST_DELAY again
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the child may outlive a killed supervisor
        pass


def next_delay(previous: float, ran_seconds: float) -> float:
    """Backoff before the next start: doubles up to MAX_DELAY, resets after a stable run."""
    if ran_seconds >= STABLE_SECONDS:
        return FIRST_DELAY
    return min(MAX_DELAY, previous * 2) if previous else FIRST_DELAY


def supervise(argv: Sequence[str]) -> int:
    """Run ``python -m spendstream.cli <argv>`` as a worker child until it should stay down."""
    stopping: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    delay = 0.0
    restarts: Counter[str] = Counter()
    while True:
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "spendstream.cli", *argv],
            env={**os.environ, CHILD_ENV: "1", RESTARTS_ENV: json.dumps(restarts)},
            preexec_fn=_die_with_parent,
        )
        code = child.wait()
        if stopping or code in NO_RESTART_CODES:
            return code if code >= 0 else 128 - code
        ran = time.monotonic() - started
        restarts[STOP_REASONS.get(code, f"exit_{code}")] += 1
        delay = next_delay(delay, ran)
        print(
            f"spendstream worker: the worker stopped (exit {code}) after {ran:.1f}s; "
            f"restarting in {delay:.0f}s (it resumes from its committed offsets)",
            file=sys.stderr,
            flush=True,
        )
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return 0
