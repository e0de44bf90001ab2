"""Expiry keeps keys in last-write order and hands back exactly the expired ones."""

from __future__ import annotations

import pytest

from streams.expiry import Expiry


def test_keys_expire_in_last_write_order_and_a_write_renews() -> None:
    expiry = Expiry(10.0)
    expiry.written(b"a", 0, now=100.0)
    expiry.written(b"b", 1, now=101.0)
    expiry.written(b"c", 2, now=102.0)
    expiry.written(b"a", 3, now=105.0)  # renewed, and now on partition 3
    assert expiry.expired(110.9) == []
    assert expiry.expired(111.0) == [(b"b", 1)]
    assert expiry.expired(114.0) == [(b"c", 2)]
    assert len(expiry) == 1
    assert expiry.expired(1000.0) == [(b"a", 3)]
    assert len(expiry) == 0


def test_recovered_keys_keep_a_known_time_and_tombstones_forget() -> None:
    expiry = Expiry(10.0)
    expiry.written(b"live", 0, now=100.0)
    expiry.recovered(b"live", 0, now=200.0)  # already known: its own time stays
    expiry.recovered(b"old", 1, now=200.0)  # unknown: its life starts at recovery
    expiry.recovered(b"gone", 2, now=200.0)
    expiry.forget(b"gone")
    assert expiry.expired(150.0) == [(b"live", 0)]
    assert expiry.expired(209.0) == []
    assert expiry.expired(210.0) == [(b"old", 1)]


def test_many_keys_expire_in_one_sweep() -> None:
    expiry = Expiry(60.0)
    for i in range(10_000):
        expiry.written(str(i).encode(), i % 4, now=float(i) / 100)
    gone = expiry.expired(60.0 + 49.995)
    assert len(gone) == 5_000
    assert gone[0] == (b"0", 0) and gone[-1] == (b"4999", 3)
    assert len(expiry) == 5_000


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Expiry(0)
