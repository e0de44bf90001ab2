"""Headers of a dead-letter record: the original headers plus why and where it failed."""

from __future__ import annotations

from typing import Any

from schemas.deadletter import DLQ_PREFIX, H_LINE, H_OFFSET, H_PARTITION, H_REASON, H_TOPIC
from schemas.raw import H_LINES, H_POS


def dead_letter_headers(message: Any, reason: str) -> list[tuple[str, bytes]]:
    """Original headers, then the reason and the source position (topic, partition, offset)."""
    original = list(message.headers or ())
    return [
        *[(k, v) for k, v in original if not k.startswith(DLQ_PREFIX)],
        (H_REASON, reason.encode("utf-8")),
        (H_TOPIC, str(message.topic).encode("utf-8")),
        (H_PARTITION, str(message.partition).encode("utf-8")),
        (H_OFFSET, str(message.offset).encode("utf-8")),
    ]


def dead_letter(message: Any, outcome: Any) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Value and headers of a raw record's dead letter (``outcome``: schemas/normalize.py).

    A dead line of a packed record is dead-lettered alone: its own bytes, ``ss-pos`` set
    to its position, no ``ss-lines``, and ``ss-dlq-line`` = its index in the record, so
    (topic, partition, offset, line) names it.
    """
    headers = dead_letter_headers(message, outcome.reason or "unknown")
    if outcome.line is None or outcome.context is None:
        return message.value or b"", headers
    first = int(next((v for k, v in headers if k == H_POS), b"0"))
    position = outcome.context.position
    headers = [(k, str(position).encode() if k == H_POS else v) for k, v in headers if k != H_LINES]
    headers.append((H_LINE, str(position - first).encode()))
    return outcome.line, headers
