"""Sending records through a link in the order the worker needs, holding what the broker refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from producers.held import HeldLines, oversize_marker
from producers.link import KafkaLink, RecordRejected
from producers.packing import split_packed
from producers.records import OutRecord


async def send_isolating(
    link: KafkaLink, partition: int, records: Sequence[OutRecord], held: HeldLines, limit: int
) -> int:
    """Send to one partition in order; if the broker rejects a batch as too large, send the
    records one by one and hold the culprit(s) locally, a marker taking their place; a
    refused pack is sent line by line, so only a line too large by itself is held.
    Returns how many lines were held. BrokerUnavailable propagates (transient)."""
    try:
        await link.send(partition, records)
    except RecordRejected as exc:
        if len(records) == 1 and records[0].lines > 1:
            records = split_packed(records[0])
        if len(records) > 1:
            counts = [await send_isolating(link, partition, [record], held, limit) for record in records]
            return sum(counts)
        record = records[0]
        held.keep(record, f"broker rejected the record: {exc}")
        marker = oversize_marker(len(record.value), limit)
        await link.send(partition, [OutRecord(record.key, marker, record.headers)])
        return 1
    return 0


async def send_in_order(link: KafkaLink, records: Sequence[OutRecord], held: HeldLines, limit: int) -> int:
    """Send records of many streams: partitions in parallel, each partition in order."""
    by_partition: dict[int, list[OutRecord]] = {}
    for record in records:
        by_partition.setdefault(link.partition_for(record.key), []).append(record)
    results = await asyncio.gather(
        *(send_isolating(link, partition, part, held, limit) for partition, part in by_partition.items()),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return sum(r for r in results if isinstance(r, int))
