"""Lines that cannot go to Kafka at all (larger than the broker accepts, even redacted).

They are kept on the runner, one JSON object per line in ``<spool_dir>/held/<date>.jsonl``
with the record's headers and why it was held, and a small marker record takes their
place on the topic so that the loss of their usage is visible downstream (the worker
dead-letters the marker). Nothing here ever leaves the machine.
"""

from __future__ import annotations

import base64
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import orjson

from producers.records import OutRecord

log = logging.getLogger(__name__)

OVERSIZE_TYPE = "spendstream.oversize"


def oversize_marker(size: int, limit: int) -> bytes:
    return orjson.dumps({"type": OVERSIZE_TYPE, "bytes": size, "limit": limit})


class HeldLines:
    """Append-only local keeping of lines that could not be published."""

    def __init__(self, spool_root: Path) -> None:
        self.dir = spool_root / "held"
        self.count = 0

    def keep(self, record: OutRecord, reason: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{datetime.now(UTC):%Y-%m-%d}.jsonl"
        entry: dict[str, object] = {
            "held_at": datetime.now(UTC).isoformat(),
            "reason": reason,
            "key": record.key.decode("utf-8", "replace"),
            "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers},
        }
        try:
            entry["value"] = record.value.decode("utf-8")
        except UnicodeDecodeError:
            entry["value_b64"] = base64.b64encode(record.value).decode("ascii")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as handle:
            handle.write(orjson.dumps(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.count += 1
        log.warning("a %d-byte line was held locally in %s (%s)", len(record.value), path, reason)
        return path
