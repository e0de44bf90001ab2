"""The rules service's decisions without a broker: stale totals ignored, label repeats dropped,
alerts already on the topic never made again."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from config.settings import Settings
from schemas.budget_rules import parse_rules
from schemas.rollup import ScopeTotals, Totals
from schemas.usage import TokenCounts, UsageEvent
from spendstream.alerts_service import RulesService

RULES = parse_rules(
    {
        "rules": [
            {"name": "task", "match": {"label": "task=T*"}, "max_usd": "1"},
            {"name": "roots", "match": {"scope": "root-*"}, "max_usd": "1", "thresholds": [0.5, 1.0]},
        ]
    }
)
SETTINGS = Settings(topic_prefix="unit")


def totals(scope: str, cost: str, version: int) -> bytes:
    subtree = Totals(cost_usd=Decimal(cost), events=version)
    return orjson.dumps(ScopeTotals(scope, scope, None, subtree, subtree, version=version).to_json_dict())


def usage(event_id: str, cost: str, task: str) -> bytes:
    event = UsageEvent(
        event_id=event_id,
        source="claude-json",
        runner_id="r",
        session_id="s",
        event_time=datetime(2026, 12, 2, tzinfo=UTC),
        tokens=TokenCounts(),
        cost_usd=Decimal(cost).quantize(Decimal("1e-12")),
        cost_source="reported",
        labels={"task": task},
    )
    return event.to_json()


def test_a_stale_totals_record_makes_no_alert() -> None:
    service = RulesService(SETTINGS, RULES, None)
    assert [a.key for a in service._alerts("unit.totals", totals("root-a", "0.6", 2))] == ["roots|root-a|0.5"]
    assert service._alerts("unit.totals", totals("root-a", "2", 1)) == []  # version 1 < 2: stale
    assert service._alerts("unit.totals", totals("other", "2", 1)) == []  # no rule matches


def test_label_repeats_count_once_and_emitted_keys_are_not_made_again() -> None:
    service = RulesService(SETTINGS, RULES, None)
    service.emitted = {"task|T1|0.5"}  # read from the alerts topic at start
    assert service._alerts("unit.usage", usage("e1", "0.6", "T1")) == []
    assert service._alerts("unit.usage", usage("e1", "0.6", "T1")) == []  # a repeat: still 0.6
    made = service._alerts("unit.usage", usage("e2", "0.3", "T1"))
    assert [(a.key, a.spent.cost_usd) for a in made] == [("task|T1|0.8", Decimal("0.9"))]
    assert service._alerts("unit.usage", usage("e3", "5", "X1")) == []  # the glob is T*
    assert service._alerts("unit.usage", b"not json") == []  # skipped, with a log line
