"""How long the broker may hold the worker's fetches (``SPENDSTREAM_FETCH_MAX_WAIT_MS``).

Faust 0.15.3 builds its worker consumer with ``fetch_max_wait_ms=1500``
(``faust/transport/drivers/aiokafka.py``, ``_create_worker_consumer``; no Faust setting
changes it). aiokafka sends one fetch request per broker at a time, holding the partitions
whose fetched records are not consumed yet, so a fetch that names only partitions with
nothing new waits at the broker until one of them gets a record or 1.5 s pass; meanwhile
no other partition of that broker is fetched. The stages feed one another through Kafka
(raw -> observations -> deltas -> usage), so such a fetch stalls the stage whose input
has just arrived: on the 1 GiB backfill (``python -m bench.ccusage_compare --modes
pipeline``) one worker sat idle about a fifth of the time.

With 100 ms the same backfill took 35-36 s instead of 44-45 s on this machine (50 to
500 ms were alike; 10 ms was slower: an idle worker then fetches a hundred times a
second), and the live bench (``python -m bench.live_workers``) ran at 2,800-2,900 lines/s
with 1.5 s and 4,000-4,300 with 100 ms.

It is not the default because of what it did to failover. With 100 ms (also with 500 ms,
and with 1.5 s kept through each rebalance and recovery), the worker that took over a
SIGKILLed worker's partitions stalled in 7 of 28 runs (about a third of those whose kill
came before the work was done) of
``tests/integration/test_exactly_once.py::test_two_workers_one_stopped_mid_stream_still_exact``:
its table recovery read nothing, or its new input partitions were never fetched, until
a watchdog (streams/runner/recovery.py, liveness.py) restarted it: totals exact 31-37 s
after the kill instead of 10-23 s. With 1.5 s none of 9 runs stalled. The cause is inside
Faust's and aiokafka's rebalance handling and was not found; until it is, the setting is
for those who trade slower failover for throughput (a single backfill worker, say).
"""

from __future__ import annotations

import functools
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

FAUST_WAIT_MS = 1500  # what Faust 0.15.3 builds its worker consumer with
_APP_ATTRIBUTE = "spendstream_fetch_max_wait_ms"


def use_wait(app: Any, wait_ms: int) -> None:
    """Make ``app``'s worker consumer fetch with ``wait_ms`` (done when the app is built)."""
    _install()
    setattr(app, _APP_ATTRIBUTE, wait_ms)


def _install() -> None:
    """Patch the worker consumer's creation (idempotent): an app given a wait by
    :func:`use_wait` gets it, any other Faust's own."""
    original = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "spendstream_fetch_wait", False):
        return

    @functools.wraps(original)
    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        wait_ms = getattr(self.app, _APP_ATTRIBUTE, None)
        if wait_ms is not None:
            # Read by AIOKafkaConsumer.start(), when it builds its Fetcher.
            consumer._fetch_max_wait_ms = wait_ms
        return consumer

    create.spendstream_fetch_wait = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]
