"""How long the broker may hold the worker's fetch requests: 100 ms, not Faust's 1.5 s.

Faust 0.15.3 builds its worker consumer with ``fetch_max_wait_ms=1500``
(``faust/transport/drivers/aiokafka.py``, ``_create_worker_consumer``; no setting changes
it). aiokafka sends one fetch request per broker at a time, holding the partitions whose
fetched records are not consumed yet, so a fetch that names only partitions with nothing
new waits at the broker until one of them gets a record or 1.5 s pass. Meanwhile no
other partition of that broker is fetched. In the worker the stages feed one another
through Kafka (raw -> observations -> deltas -> usage), so such a fetch stalls the stage
whose input has just arrived: on the 1 GiB backfill (``python -m bench.ccusage_compare
--modes pipeline``) the worker sat idle about a fifth of the time.

With 100 ms the same backfill took 35-36 s instead of 44-45 s on this machine (50 to
500 ms were alike; 10 ms was slower, an idle worker then fetches a hundred times a
second). An idle worker now sends about ten empty fetches a second per broker.
"""

from __future__ import annotations

import functools
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

FETCH_MAX_WAIT_MS = 100


def install() -> None:
    """Patch the worker consumer's creation (idempotent; done when the worker's app is built)."""
    original = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "spendstream_fetch_wait", False):
        return

    @functools.wraps(original)
    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        # Read by AIOKafkaConsumer.start(), when it builds its Fetcher.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    create.spendstream_fetch_wait = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]
