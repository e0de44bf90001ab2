from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.money import MoneyError, to_usd
from schemas.raw import decode_headers
from schemas.sources import BadLine


def test_an_amount_too_large_for_12_places_is_a_money_error() -> None:
    with pytest.raises(MoneyError, match="too large"):
        to_usd(1e300)


def headers(ts: str) -> list[tuple[str, bytes]]:
    values = {"ss-format": "claude-json", "ss-runner": "r", "ss-stream": "s", "ss-pos": "1", "ss-ts": ts}
    return [(k, v.encode()) for k, v in values.items()]


def test_producer_timestamps_are_utc_and_bounded() -> None:
    ctx = decode_headers(headers("2026-01-06T10:00:00+01:00"), key=b"s")
    assert ctx.published_at == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    with pytest.raises(BadLine, match="out of range"):
        decode_headers(headers("9999-12-31T23:59:59-12:00"), key=b"s")
