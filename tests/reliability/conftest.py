"""Fault injection and hostile input on the real broker (README.md beside this file).

The shared broker's fixtures (``topics``) come from tests/integration; a test that stops
a broker uses ``private_broker``, a second broker of its own, never the shared one.
"""

from __future__ import annotations

from tests.integration.conftest import kafka_broker, settings, topics
from tests.integration.producers_harness import private_broker

__all__ = ["kafka_broker", "private_broker", "settings", "topics"]
