"""Issue 14 item 5: quiet by default, everything at ``-v``, a service log for the worker."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.integration.conftest import REPO

# Log from spendstream's own loggers and from a library, as a command would.
_LOGS = """
import logging, sys
from spendstream.logs import configure_logging
configure_logging(verbose=sys.argv[1] == "verbose", service=sys.argv[1] == "service")
logging.getLogger("producers.emit").info("progress")
logging.getLogger("producers.emit").warning("a line was skipped")
logging.getLogger("aiokafka.consumer.group_coordinator").error("GroupCoordinatorNotAvailableError")
logging.getLogger("faust.worker").info("Setting newly assigned partitions")
"""


def stderr_lines(mode: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _LOGS, mode], capture_output=True, check=True, cwd=REPO, text=True
    )
    assert proc.stdout == ""
    return proc.stderr.splitlines()


def test_by_default_only_spendstreams_warnings_as_one_liners() -> None:
    assert stderr_lines("default") == ["spendstream: a line was skipped"]


@pytest.mark.parametrize("mode", ["verbose", "service"])
def test_verbose_and_the_worker_show_libraries_with_timestamps(mode: str) -> None:
    lines = stderr_lines(mode)
    shown = ["progress", "a line was skipped", "GroupCoordinatorNotAvailableError", "Setting newly"]
    assert [next(s for s in shown if s in line) for line in lines] == shown
    assert all(
        re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) ", line) for line in lines
    )
