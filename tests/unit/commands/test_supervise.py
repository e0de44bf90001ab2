"""Restart backoff of ``spendstream worker``'s supervisor."""

from __future__ import annotations

from spendstream.supervise import FIRST_DELAY, MAX_DELAY, STABLE_SECONDS, next_delay


def test_backoff_doubles_up_to_the_cap_and_resets_after_a_stable_run() -> None:
    delays = []
    delay = 0.0
    for _ in range(8):
        delay = next_delay(delay, ran_seconds=2.0)
        delays.append(delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert next_delay(MAX_DELAY, ran_seconds=STABLE_SECONDS) == FIRST_DELAY
