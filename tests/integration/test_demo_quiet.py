"""Issue 14 item 5, test (e): the demo, run as a newcomer runs it, prints only its own output.

No log line of spendstream or of the Kafka and Faust libraries (``INFO``, ``WARNING``,
``ERROR``), no traceback: the cost table and spendstream's own one-line messages.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.settings import Settings
from tests.integration.producers_harness import spendstream
from tests.reliability.faults import on_free_port

pytestmark = pytest.mark.integration

LOG_LEVEL = re.compile(r"\b(INFO|WARNING|ERROR)\b")
SAMPLE_SESSIONS = ("demo-0001-refactor", "demo-0002-flaky-test", "145cc619-8afc-49bd-8c24-81ce5bebe88d")


def test_the_demo_prints_its_table_and_no_log_lines(settings: Settings, tmp_path: Path) -> None:
    settings = on_free_port(settings)
    if not settings.uses_local_broker:  # the worker's log goes to the state folder: keep it here
        settings = settings.model_copy(update={"state_dir": tmp_path / "state"})
    proc = spendstream(settings, "demo", timeout=300)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    noisy = [line for line in (out + err).splitlines() if LOG_LEVEL.search(line) or "Traceback" in line]
    assert noisy == [], err
    assert "Per-session cost of the sample" in out
    header = next(line for line in out.splitlines() if line.startswith("session_id"))
    assert header.split() == [
        "session_id",
        "events",
        "models",
        "input",
        "output",
        "cache_write",
        "cache_read",
        "cost_usd",
    ]
    for session in SAMPLE_SESSIONS:
        assert any(line.startswith(session) for line in out.splitlines()), out
    assert "(3 rows)" in out
    # The worker logs as a service does, in its own file, not on the demo's output.
    assert "Setting newly assigned partitions" in (settings.state_dir / "demo-worker.log").read_text()
