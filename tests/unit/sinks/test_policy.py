"""Rotation rules: rows, bytes, event-time span per date, age; a trickle makes few files; settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from config.settings import Settings
from sinks.policy import BufferStats, SinkPolicy, cut_before, due, full
from tests.unit.sinks.factory import T0


def filled(rows: int, size: int = 10, step: timedelta = timedelta(0)) -> BufferStats:
    stats = BufferStats()
    for i in range(rows):
        stats.add(size, T0 + i * step, now=100.0)
    return stats


def test_rows_and_bytes_make_a_buffer_full() -> None:
    policy = SinkPolicy(max_rows=3, max_bytes=1000)
    assert full(policy, filled(2)) is None
    assert full(policy, filled(3)) == "rows"
    assert full(policy, filled(2, size=500)) == "bytes"


def test_a_wide_event_time_span_of_the_items_date_cuts_before_the_item() -> None:
    policy = SinkPolicy(max_span=timedelta(hours=1))
    stats = filled(3, step=timedelta(minutes=20))  # T0 .. T0+40m
    assert not cut_before(policy, stats, T0 + timedelta(minutes=60))
    assert cut_before(policy, stats, T0 + timedelta(minutes=61))
    assert cut_before(policy, stats, T0 - timedelta(minutes=21))  # a late event widens it too
    assert not cut_before(policy, BufferStats(), T0 + timedelta(days=9))


def test_the_span_is_per_date_so_interleaved_dates_do_not_cut() -> None:
    policy = SinkPolicy(max_span=timedelta(hours=1))
    stats = BufferStats()
    for n in range(300):  # 30 dates interleaved, each date's items within 50 minutes
        at = T0 + timedelta(days=n % 30, minutes=n // 30 * 5)
        assert not cut_before(policy, stats, at), n
        stats.add(10, at, now=100.0)
    assert len(stats.spans) == 30 and stats.rows == 300
    assert stats.spans["2025-04-01"] == (T0 + timedelta(days=1), T0 + timedelta(days=1, minutes=45))
    assert not cut_before(policy, stats, T0 + timedelta(days=29, minutes=60))
    assert cut_before(policy, stats, T0 + timedelta(days=29, minutes=61))
    # An item of another date never cuts, however far its time lies from the buffer's others.
    assert not cut_before(policy, filled(1), T0 + timedelta(days=1))


def test_the_default_span_of_a_day_never_cuts() -> None:
    policy = SinkPolicy()
    midnight = T0.replace(hour=0)
    stats = filled(1)
    stats.add(10, midnight, now=100.0)
    assert not cut_before(policy, stats, midnight + timedelta(days=1, microseconds=-1))
    assert not cut_before(policy, stats, midnight - timedelta(microseconds=1))  # the day before


def test_age_counts_from_the_oldest_buffered_item() -> None:
    policy = SinkPolicy(flush_seconds=2.0)
    stats = filled(1)  # opened at 100.0
    stats.add(10, T0, now=101.5)
    assert due(policy, stats, now=101.9) is None
    assert due(policy, stats, now=102.0) == "age"
    assert due(policy, BufferStats(), now=1e9) is None


def test_a_trickle_gets_one_file_per_flush_interval_not_one_per_event() -> None:
    policy = SinkPolicy(flush_seconds=2.0)
    stats, files, now = BufferStats(), 0, 0.0
    for _ in range(240):  # one event every 0.25 s for a minute, polled as each arrives
        now += 0.25
        stats.add(200, T0, now)
        if due(policy, stats, now):
            files, stats = files + 1, BufferStats()
    # A file holds the 9 events of its 2 seconds: 26 files for 240 events, never more than 60 s / 2 s.
    assert files == 240 // 9


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SinkPolicy(max_rows=0)


def test_limits_come_from_the_settings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSTREAM_SINK_MAX_ROWS", "7")
    monkeypatch.setenv("SPENDSTREAM_SINK_MAX_BYTES", "4096")
    monkeypatch.setenv("SPENDSTREAM_SINK_MAX_SPAN_SECONDS", "90")
    monkeypatch.setenv("SPENDSTREAM_SINK_FLUSH_SECONDS", "0.5")
    policy = SinkPolicy.from_settings(Settings())
    assert policy == SinkPolicy(max_rows=7, max_bytes=4096, max_span=timedelta(seconds=90), flush_seconds=0.5)
    stats = filled(2, size=2048, step=timedelta(seconds=45))  # 4096 bytes over 45 s
    assert full(policy, stats) == "bytes"
    assert not cut_before(policy, stats, T0 + timedelta(seconds=90))
    assert cut_before(policy, stats, T0 + timedelta(seconds=90, microseconds=1))


def test_default_limits_are_64_mib_and_one_day(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAX_ROWS", "MAX_BYTES", "MAX_SPAN_SECONDS", "FLUSH_SECONDS"):
        monkeypatch.delenv(f"SPENDSTREAM_SINK_{name}", raising=False)
    policy = SinkPolicy.from_settings(Settings())
    assert (policy.max_bytes, policy.max_span) == (64 * 1024 * 1024, timedelta(days=1))
    assert policy == SinkPolicy()


@pytest.mark.parametrize("name", ["SPENDSTREAM_SINK_MAX_BYTES", "SPENDSTREAM_SINK_MAX_SPAN_SECONDS"])
def test_settings_refuse_non_positive_limits(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0")
    with pytest.raises(ValidationError):
        Settings()
