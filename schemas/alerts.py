"""The ``alerts`` topic record: a budget rule's threshold reached by one subject.

Pure. One record per (rule, subject, threshold), keyed ``rule|subject|threshold``
(schemas/budget_rules.py ``alert_key``) on a compacted topic: the key's presence is the
memory that the alert was emitted, so a restarted service emits none twice. JSON Schema:
schemas/alerts.schema.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.budget_rules import Rule, alert_key, threshold_text
from schemas.money import usd_str
from schemas.rollup import Totals

ALERT_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Alert:
    rule: Rule
    subject: str  # the scope id, or the label's value
    threshold: Decimal
    crossed_by: tuple[str, ...]  # "usd", "tokens" or both
    spent: Totals
    crossed_at: datetime

    @property
    def key(self) -> str:
        return alert_key(self.rule.name, self.subject, self.threshold)

    def to_json_dict(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "schema_version": ALERT_SCHEMA_VERSION,
            "rule": rule.name,
            "kind": rule.kind,
            "label": rule.label,
            "subject": self.subject,
            "threshold": threshold_text(self.threshold),
            "limit": {
                "max_usd": None if rule.max_usd is None else usd_str(rule.max_usd),
                "max_tokens": rule.max_tokens,
            },
            "crossed_by": list(self.crossed_by),
            "spent": {
                "cost_usd": usd_str(self.spent.cost_usd),
                "billable_cost_usd": usd_str(self.spent.billable_cost_usd),
                "advisory_cost_usd": usd_str(self.spent.advisory_cost_usd),
                "tokens": self.spent.tokens.total,
                "events": self.spent.events,
            },
            "crossed_at": self.crossed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        }


def new_alerts(
    rule: Rule, subject: str, spent: Totals, emitted: set[str] | frozenset[str], now: datetime
) -> list[Alert]:
    """The alerts ``spent`` gives ``subject`` under ``rule`` that were not emitted yet."""
    if not rule.matches(subject):
        return []
    return [
        Alert(rule, subject, threshold, by, spent, now)
        for threshold, by in rule.reached(spent)
        if alert_key(rule.name, subject, threshold) not in emitted
    ]
