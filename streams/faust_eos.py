"""Make Faust's exactly-once mode atomic for agents that re-key their output.

faust-streaming 0.15.3 (``TransactionManager.send``) picks the Kafka transaction of an
output record by the record's DESTINATION partition. Offsets, though, are committed per
SOURCE partition. When an agent re-keys (all of spendstream's stages do: stream id ->
ledger key -> root scope), the outputs of an input from partition 2 land in partition 0's
transaction, which commits only when partition 0 next commits an input. Reproduced on the
real broker (the demo): the last records hang, invisible to ``read_committed`` readers,
until unrelated traffic arrives on that partition; and a crash between the two commits
could lose outputs whose input offset was already committed.

The fix: send inside the transaction of the event being processed (Faust keeps it in a
context variable), so an input's outputs, its table changelog writes and its offset are
committed together. Outside an event (none in spendstream) Faust's choice stands.

"""

from __future__ import annotations

from typing import Any

from faust.streams import current_event
from faust.transport.consumer import TransactionManager

_original_send = TransactionManager.send


async def _send_in_source_transaction(
    self: Any,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None,
    timestamp: float | None,
    headers: Any,
    *,
    transactional_id: str | None = None,
) -> Any:
    event = current_event()
    if event is None:
        return await _original_send(
            self, topic, key, value, partition, timestamp, headers, transactional_id=transactional_id
        )
    source = event.message
    group = self.app.assignor.group_for_topic(source.topic)
    source_tid = f"{self.app.conf.id}-{group}-{source.partition}"
    destination = self.consumer.key_partition(topic, key, partition)
    return await self.producer.send(
        topic, key, value, destination, timestamp, headers, transactional_id=source_tid
    )


def install() -> None:
    """Apply the fix (idempotent)."""
    TransactionManager.send = _send_in_source_transaction  # type: ignore[method-assign]
