"""``run --max-usd/--max-tokens``: what trips, as a pure function of the scope's record."""

from __future__ import annotations

from decimal import Decimal
from typing import cast
from unittest.mock import patch

from producers.guard import Guard, Limits, TotalsFollower, judge, usd_display, verdict_line
from schemas.rollup import ScopeTotals, Totals
from schemas.usage import TokenCounts


def _record(cost: str, advisory: str = "0", tokens: int = 0) -> ScopeTotals:
    subtree = Totals(TokenCounts(tokens), Decimal(cost), 1, Decimal(advisory))
    return ScopeTotals("s", "s", None, subtree, subtree)


def test_within_the_limits_nothing_happens() -> None:
    assert judge(_record("1.00"), Limits(Decimal("1.00"))) is None
    assert judge(_record("0", tokens=100), Limits(max_tokens=100)) is None


def test_billable_cost_over_the_limit_stops() -> None:
    verdict = judge(_record("1.05"), Limits(Decimal("1.00")))
    assert verdict is not None and verdict.stop and verdict.spent == "$1.05"
    assert "scope s" in verdict_line("s", verdict) and "$1.00" in verdict_line("s", verdict)


def test_subscription_cost_is_advisory_unless_enforced() -> None:
    verdict = judge(_record("1.05", advisory="1.05"), Limits(Decimal("1.00")))
    assert verdict is not None and not verdict.stop and verdict.advisory
    assert "advisory" in verdict_line("s", verdict)
    # Only the billable part counts: 0.60 billable + 0.45 notional is within a $1.00 limit.
    verdict = judge(_record("1.05", advisory="0.45"), Limits(Decimal("1.00")))
    assert verdict is not None and verdict.advisory
    enforced = judge(_record("1.05", advisory="1.05"), Limits(Decimal("1.00"), enforce_advisory=True))
    assert enforced is not None and enforced.stop


def test_tokens_are_enforced_in_every_auth_mode() -> None:
    verdict = judge(_record("0.10", advisory="0.10", tokens=101), Limits(Decimal("1.00"), max_tokens=100))
    assert verdict is not None and verdict.stop and verdict.what == "tokens"


def test_amounts_are_shown_exactly_without_trailing_zeros() -> None:
    assert [usd_display(Decimal(x)) for x in ("1.050000000000", "2", "0.000000000001")] == [
        "$1.05",
        "$2.00",
        "$0.000000000001",
    ]


class ScriptedFollower:
    """Hands out the given records, then raises ``end`` (a follower that failed, or ran dry)."""

    def __init__(self, records: list[ScopeTotals], end: BaseException) -> None:
        self.records, self.end = list(records), end

    async def next_change(self) -> ScopeTotals:
        if self.records:
            return self.records.pop(0)
        raise self.end


def _guard(records: list[ScopeTotals], end: BaseException, limits: Limits) -> Guard:
    return Guard("s", limits, 0.1, cast(TotalsFollower, ScriptedFollower(records, end)))


async def test_advisory_is_said_once_then_billable_spend_stops_the_group() -> None:
    said: list[str] = []
    stopped: list[int] = []

    async def fake_stop(pgid: int, grace_s: float) -> None:
        stopped.append(pgid)

    records = [
        _record("1.10", advisory="1.10"),
        _record("1.20", advisory="1.20"),
        _record("2.30", advisory="1.20"),
    ]
    guard = _guard(records, AssertionError("read past the stop"), Limits(Decimal("1.00")))
    with patch("producers.guard.stop_group", fake_stop):
        await guard.watch(4242, said.append)
    assert [("advisory" in line, "exceeded" in line) for line in said] == [(True, False), (False, True)]
    assert stopped == [4242] and guard.stopped is not None and guard.stopped.spent == "$1.10"


async def test_a_guard_that_fails_says_the_budget_is_no_longer_enforced() -> None:
    said: list[str] = []
    guard = _guard([], ConnectionError("broker gone"), Limits(Decimal("1.00")))
    await guard.watch(4242, said.append)
    assert len(said) == 1 and "no longer enforced" in said[0] and guard.stopped is None
