"""Convergence checks on the real broker: every scope's totals and the lake equal a workload's
expected values exactly (shared by tests/integration and tests/reliability)."""

from __future__ import annotations

from typing import Any

import orjson

from config.settings import Settings
from schemas.rollup import ScopeTotals
from tests.integration.harness import TopicTimeout, read_topic, wait_for_query
from tests.integration.workload import TOKENS, Workload, expected_totals_view


def totals_view(record: ScopeTotals) -> tuple[object, ...]:
    sub, own = record.subtree, record.own
    return (
        sub.cost_usd,
        *(getattr(sub.tokens, t) for t in TOKENS),
        own.cost_usd,
        own.events,
        record.children,
    )


def latest_by_scope(records: list[Any]) -> dict[str, ScopeTotals]:
    latest: dict[str, ScopeTotals] = {}
    for message in records:
        record = ScopeTotals.from_json_dict(orjson.loads(message.value))
        current = latest.get(record.scope)
        if current is None or record.version > current.version:
            latest[record.scope] = record
    return latest


async def converged_totals(
    settings: Settings, workload: Workload, wait_s: float = 120.0
) -> dict[str, ScopeTotals]:
    """The latest totals of every scope once all equal the workload's expectation exactly."""
    expected = expected_totals_view(workload)

    def done(records: list[Any]) -> bool:
        latest = latest_by_scope(records)
        return all(s in latest and totals_view(latest[s]) == v for s, v in expected.items())

    try:
        records = await read_topic(settings, settings.topic("totals"), until=done, wait_s=wait_s)
    except TopicTimeout as timeout:
        latest = latest_by_scope(timeout.records)
        diffs = {s: (totals_view(latest[s]) if s in latest else None, v) for s, v in expected.items()}
        wrong = {s: d for s, d in diffs.items() if d[0] != d[1]}
        raise AssertionError(f"totals did not converge; (got, expected) per scope: {wrong}") from None
    return latest_by_scope(records)


async def lake_matches(settings: Settings, workload: Workload, wait_s: float = 60.0) -> None:
    """Per session, the lake's cost, token sums and event count equal the workload's exactly;
    no event_id twice."""
    expected = {
        s: (e.own_cost, *(e.own_tokens[t] for t in TOKENS), e.own_events)
        for s, e in workload.expected.items()
    }
    sums = ", ".join(f"sum({t})" for t in TOKENS)
    rows = await wait_for_query(
        settings,
        f"SELECT session_id, sum(cost_usd), {sums}, count(*) FROM usage GROUP BY 1",
        until=lambda rows: {r[0]: tuple(r[1:]) for r in rows} == expected,
        wait_s=wait_s,
    )
    assert len(rows) == len(expected)
    dupes = await wait_for_query(
        settings,
        "SELECT event_id, count(*) FROM usage GROUP BY 1 HAVING count(*) > 1",
        until=lambda rows: True,
    )
    assert dupes == []
