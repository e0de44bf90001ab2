"""Headers of a dead-letter record: the original headers plus why and where it failed."""

from __future__ import annotations

from typing import Any

H_REASON = "ss-dlq-reason"
H_TOPIC = "ss-dlq-topic"
H_PARTITION = "ss-dlq-partition"
H_OFFSET = "ss-dlq-offset"


def dead_letter_headers(message: Any, reason: str) -> list[tuple[str, bytes]]:
    """Original headers, then the reason and the source position (topic, partition, offset)."""
    original = list(message.headers or ())
    return [
        *[(k, v) for k, v in original if not k.startswith("ss-dlq-")],
        (H_REASON, reason.encode("utf-8")),
        (H_TOPIC, str(message.topic).encode("utf-8")),
        (H_PARTITION, str(message.partition).encode("utf-8")),
        (H_OFFSET, str(message.offset).encode("utf-8")),
    ]
