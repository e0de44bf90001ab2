"""A Faust agent that only counts records: the per-record floor of any Faust worker here.

Run as a child by ``python -m bench`` (``python -m bench.faust_count TOPIC EXPECTED OUT``,
broker and partitions from the SPENDSTREAM_ settings). It consumes TOPIC from the start
with a fresh group and, once EXPECTED records were seen, writes to OUT the wall time from
the first record to the last, so the worker's start-up is not in the figure.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import faust
import orjson

from bench.kafka_tools import free_port
from config.settings import Settings


def build(topic_name: str, expected: int, out: Path) -> faust.App:
    settings = Settings()
    app = faust.App(
        f"{settings.topic_prefix}-count-{uuid.uuid4().hex[:6]}",  # under the run's prefix: deleted with it
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        web_port=free_port(),
        producer_linger=0.005,
        autodiscover=False,
    )
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    seen = {"count": 0, "first": 0.0}

    @app.agent(topic)
    async def count(stream: faust.StreamT) -> AsyncIterator[None]:
        async for _ in stream:
            if seen["count"] == 0:
                seen["first"] = time.time()
            seen["count"] += 1
            if seen["count"] == expected:
                last = time.time()
                result = orjson.dumps({"records": expected, "first": seen["first"], "last": last})
                out.write_bytes(result)  # noqa: ASYNC240 (once per run, after the clock stopped)
            yield None

    return app


if __name__ == "__main__":
    name, wanted, result = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info", "--without-web"]
    build(name, wanted, result).main()
