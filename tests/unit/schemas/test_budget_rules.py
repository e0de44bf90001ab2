"""Budget rules: the rules file's validation, matching, thresholds, label sums and the alert record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas.alerts import new_alerts
from schemas.budget_rules import LabelSpend, RulesError, alert_key, parse_rules, threshold_text
from schemas.rollup import Totals
from schemas.usage import TokenCounts, UsageEvent

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schemas" / "alerts.schema.json"
NOW = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)
EXAMPLE = {
    "rules": [
        {"name": "per-task", "match": {"label": "task=*"}, "max_usd": "50.00", "thresholds": [0.5, 0.8, 1.0]},
        {"name": "roots", "match": {"scope": "root-*"}, "max_usd": "10", "max_tokens": 2000000},
    ]
}


def event(event_id: str, cost: str, labels: dict[str, str], tokens: int = 0, **kw: Any) -> UsageEvent:
    return UsageEvent(
        event_id=event_id,
        source="claude-json",
        runner_id="r",
        session_id="s",
        event_time=NOW,
        tokens=TokenCounts(input_tokens=tokens),
        cost_usd=Decimal(cost).quantize(Decimal("1e-12")),
        cost_source="reported",
        labels=labels,
        **kw,
    )


def one(**fields: Any) -> dict[str, Any]:
    """A rules file of one rule named r, matching every scope unless ``fields`` say else."""
    return {"rules": [{"name": "r", "match": {"scope": "*"}, **fields}]}


def spent(cost: str, tokens: int = 0) -> Totals:
    return Totals().plus(event("e", cost, {}, tokens))


def test_the_example_file_parses_with_default_thresholds() -> None:
    task, roots = parse_rules(EXAMPLE)
    assert (task.kind, task.label, task.pattern, task.max_usd) == ("label", "task", "*", Decimal("50.00"))
    assert (roots.kind, roots.pattern, roots.max_tokens) == ("scope", "root-*", 2_000_000)
    assert [threshold_text(t) for t in roots.thresholds] == ["0.5", "0.8", "1.0"]
    assert roots.matches("root-7") and not roots.matches("child-of-root-7")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "a rules file is a JSON object"),
        ({"rules": []}, "has no rules"),
        ({"rules": [{"match": {"scope": "*"}, "max_usd": "1"}]}, "rule 1: name must be"),
        ({"rules": [{"name": "a|b", "match": {"scope": "*"}, "max_usd": "1"}]}, "without '|'"),
        (
            one(match={"label": "task"}, max_usd="1"),
            "match.label must be KEY=GLOB",
        ),
        (one(match={"model": "x"}, max_usd="1"), "not 'model'"),
        (one(match={"scope": "*", "label": "a=b"}, max_usd="1"), "match is"),
        (one(), "needs max_usd, max_tokens or both"),
        (one(max_usd="0"), "max_usd must be above zero"),
        (one(max_usd="ten"), "max_usd is not an amount"),
        (
            one(max_tokens=1.5),
            "max_tokens must be a positive",
        ),
        (
            one(max_usd=1, thresholds=[]),
            "non-empty list",
        ),
        (one(max_usd=1, thresholds=[0]), "above zero"),
        (one(max_usd=1, thresholds=[1, 1.0]), "repeat"),
        (
            one(max_usd=1, limit=2),
            "unknown field(s) limit",
        ),
        (
            {"rules": [{"name": "r", "match": {"scope": "*"}, "max_usd": 1}] * 2},
            "rule names must be unique: r",
        ),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_problem(raw: object, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(raw)
    assert message in caught.value.reason


def test_thresholds_are_reached_at_their_fraction_of_the_limit_by_cost_or_tokens() -> None:
    (rule,) = parse_rules(
        {"rules": [{"name": "r", "match": {"scope": "*"}, "max_usd": "1", "max_tokens": 1000}]}
    )
    assert rule.reached(spent("0.499999999999", 499)) == []
    assert rule.reached(spent("0.5", 0)) == [(Decimal("0.5"), ("usd",))]
    reached = rule.reached(spent("0.81", 1000))
    assert [(threshold_text(t), by) for t, by in reached] == [
        ("0.5", ("usd", "tokens")),
        ("0.8", ("usd", "tokens")),
        ("1.0", ("tokens",)),
    ]


def test_new_alerts_skip_what_was_emitted_and_subjects_the_rule_does_not_match() -> None:
    (rule,) = parse_rules({"rules": [{"name": "roots", "match": {"scope": "root-*"}, "max_usd": "1"}]})
    emitted = {alert_key("roots", "root-a", Decimal("0.5"))}
    alerts = new_alerts(rule, "root-a", spent("0.9"), emitted, NOW)
    assert [a.key for a in alerts] == ["roots|root-a|0.8"]
    assert new_alerts(rule, "session-1", spent("5"), set(), NOW) == []


def test_label_spend_counts_each_event_id_once_per_label_value() -> None:
    labels = LabelSpend.of(frozenset({"task"}))
    assert labels.add(event("e1", "0.30", {"task": "T1", "agent": "dev"})) == [("task", "T1")]
    assert labels.add(event("e1", "0.30", {"task": "T1", "agent": "dev"})) == []  # a repeat
    assert labels.add(event("e2", "0.25", {"task": "T1"}, auth_mode="subscription")) == [("task", "T1")]
    assert labels.add(event("e3", "9", {"agent": "dev"})) == []  # no label a rule asks for
    total = labels.totals[("task", "T1")]
    assert (total.cost_usd, total.advisory_cost_usd, total.events) == (Decimal("0.55"), Decimal("0.25"), 2)


def test_the_alert_record_satisfies_its_json_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    task, roots = parse_rules(EXAMPLE)
    for rule, subject in ((task, "T42"), (roots, "root-1")):
        for alert in new_alerts(rule, subject, spent("60", 3_000_000), set(), NOW):
            record = alert.to_json_dict()
            validator.validate(record)
            assert alert.key == f"{record['rule']}|{record['subject']}|{record['threshold']}"
    record = new_alerts(task, "T42", spent("25"), set(), NOW)[0].to_json_dict()
    assert record["limit"] == {"max_usd": "50.000000000000", "max_tokens": None}
    assert (record["kind"], record["label"], record["threshold"]) == ("label", "task", "0.5")
    assert record["crossed_at"] == "2026-12-02T19:00:00.000000+00:00"
    assert list(validator.iter_errors({**record, "threshold": 0.5}))  # a string, as in the key
