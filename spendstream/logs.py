"""Where log records go: quiet by default, everything at ``-v``, a service log for ``worker``.

A normal command (``demo``, ``publish``, ``run``, ``report``, ...) prints only its own
output: spendstream's warnings and errors appear as one-line ``spendstream: ...`` messages
on stderr, without timestamps, and the Kafka and Faust libraries are silent. They log
connection retries and coordinator elections at INFO and ERROR (a cold broker gives
``GroupCoordinatorNotAvailableError`` until its coordinator is up) that spendstream
handles itself and reports in its own words (issue 14).

``-v`` shows every logger at DEBUG with timestamps. The ``worker`` command is a service:
its log keeps INFO with timestamps (Faust reconfigures it when the worker starts, and the
tests read its partition assignments from it).
"""

from __future__ import annotations

import logging
import sys

# The libraries whose records are silenced unless -v.
LIBRARY_LOGGERS = ("aiokafka", "kafka", "faust", "mode")
_DETAILED = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(*, verbose: bool, service: bool) -> None:
    """Set up the root logger once per process, at the entry point."""
    if verbose or service:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=_DETAILED)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("spendstream: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
