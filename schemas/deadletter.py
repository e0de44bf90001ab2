"""The dead-letter topic's headers, shared by the worker (write) and the lake sink (read).

A dead-letter record carries the failed input's bytes and original ``ss-*`` headers, plus:

- ``ss-dlq-reason``     why it failed (never quotes the input)
- ``ss-dlq-topic``      topic, partition and offset of the failed input record
- ``ss-dlq-partition``
- ``ss-dlq-offset``
- ``ss-dlq-line``       index of the failed line in a packed record (absent: 0)
"""

from __future__ import annotations

H_REASON = "ss-dlq-reason"
H_TOPIC = "ss-dlq-topic"
H_PARTITION = "ss-dlq-partition"
H_OFFSET = "ss-dlq-offset"
H_LINE = "ss-dlq-line"
DLQ_PREFIX = "ss-dlq-"
