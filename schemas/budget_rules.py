"""Budget rules for ``spendstream budget --rules FILE``: parsing, matching and thresholds.

Pure. A rules file is JSON::

    {"rules": [
      {"name": "per-task", "match": {"label": "task=*"}, "max_usd": "50.00",
       "thresholds": [0.5, 0.8, 1.0]},
      {"name": "roots", "match": {"scope": "root-*"}, "max_usd": "10", "max_tokens": 2000000}
    ]}

A rule matches either scopes (``scope``: an fnmatch glob over scope ids, measured by the
scope's subtree totals) or the values of one label (``label``: ``KEY=GLOB``, measured by the
sum of the usage events carrying that label value). A threshold is *reached* when the spend
is at least ``threshold x limit`` for the cost (``cost_usd``: billable and advisory) or for
the total tokens; a limit must be above zero, so nothing is reached by spending nothing.
Spend only grows, so each (rule, subject, threshold) is reached at most once: that triple is
the alert's identity (:func:`alert_key`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from schemas.errors import TerminalError
from schemas.rollup import Totals
from schemas.usage import UsageEvent

DEFAULT_THRESHOLDS: tuple[Decimal, ...] = (Decimal("0.5"), Decimal("0.8"), Decimal("1.0"))
MatchKind = Literal["scope", "label"]
_RULE_FIELDS = {"name", "match", "max_usd", "max_tokens", "thresholds"}


class RulesError(TerminalError):
    """A rules file that cannot be used; the message names the rule and the field."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    kind: MatchKind
    pattern: str  # fnmatch glob over scope ids, or over the values of ``label``
    label: str | None = None  # the label key of a label rule
    max_usd: Decimal | None = None
    max_tokens: int | None = None
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS

    def matches(self, subject: str) -> bool:
        # fnmatchcase: the same rule matches the same scopes on every platform.
        return fnmatch.fnmatchcase(subject, self.pattern)

    def reached(self, spent: Totals) -> list[tuple[Decimal, tuple[str, ...]]]:
        """Every threshold the spend reached, lowest first, with what reached it."""
        out = []
        for threshold in self.thresholds:
            by = []
            if self.max_usd is not None and spent.cost_usd >= threshold * self.max_usd:
                by.append("usd")
            if self.max_tokens is not None and spent.tokens.total >= threshold * self.max_tokens:
                by.append("tokens")
            if by:
                out.append((threshold, tuple(by)))
        return out


def threshold_text(threshold: Decimal) -> str:
    """The threshold as alert keys spell it: ``0.5``, ``0.8``, ``1.0``."""
    text = format(threshold.normalize(), "f")
    return text if "." in text else f"{text}.0"


def alert_key(rule: str, subject: str, threshold: Decimal) -> str:
    return f"{rule}|{subject}|{threshold_text(threshold)}"


def parse_rules(raw: object) -> tuple[Rule, ...]:
    """The rules of a parsed rules file; :class:`RulesError` names the first problem."""
    if not isinstance(raw, dict) or set(raw) != {"rules"} or not isinstance(raw["rules"], list):
        raise RulesError('a rules file is a JSON object {"rules": [...]}')
    if not raw["rules"]:
        raise RulesError("the rules file has no rules")
    rules = [_rule(i, entry) for i, entry in enumerate(raw["rules"])]
    names = [rule.name for rule in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RulesError(f"rule names must be unique: {', '.join(duplicates)}")
    return tuple(rules)


def _rule(index: int, entry: object) -> Rule:
    where = f"rule {index + 1}"
    if not isinstance(entry, dict):
        raise RulesError(f"{where}: a rule is a JSON object")
    name = entry.get("name")
    if not isinstance(name, str) or not name or "|" in name:
        raise RulesError(f"{where}: name must be a non-empty string without '|'")
    where = f"rule {name!r}"
    unknown = sorted(set(entry) - _RULE_FIELDS)
    if unknown:
        raise RulesError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kind, pattern, label = _match(where, entry.get("match"))
    max_usd = _max_usd(where, entry.get("max_usd"))
    max_tokens = _max_tokens(where, entry.get("max_tokens"))
    if max_usd is None and max_tokens is None:
        raise RulesError(f"{where}: needs max_usd, max_tokens or both")
    thresholds = _thresholds(where, entry.get("thresholds"))
    return Rule(name, kind, pattern, label, max_usd, max_tokens, thresholds)


def _match(where: str, match: object) -> tuple[MatchKind, str, str | None]:
    if not isinstance(match, dict) or len(match) != 1:
        raise RulesError(f'{where}: match is {{"scope": GLOB}} or {{"label": "KEY=GLOB"}}')
    [(kind, value)] = match.items()
    if not isinstance(value, str) or not value:
        raise RulesError(f"{where}: match.{kind} must be a non-empty string")
    if kind == "scope":
        return "scope", value, None
    if kind == "label":
        key, sep, pattern = value.partition("=")
        if not sep or not key or not pattern:
            raise RulesError(f"{where}: match.label must be KEY=GLOB, e.g. task=*, got {value!r}")
        return "label", pattern, key
    raise RulesError(f'{where}: match is {{"scope": GLOB}} or {{"label": "KEY=GLOB"}}, not {kind!r}')


def _max_usd(where: str, value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RulesError(f'{where}: max_usd must be an amount, e.g. "50.00"')
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as exc:
        raise RulesError(f"{where}: max_usd is not an amount: {value!r}") from exc
    if not amount.is_finite() or amount <= 0:
        raise RulesError(f"{where}: max_usd must be above zero, got {value!r}")
    return amount


def _max_tokens(where: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RulesError(f"{where}: max_tokens must be a positive integer, got {value!r}")
    return value


def _thresholds(where: str, value: object) -> tuple[Decimal, ...]:
    if value is None:
        return DEFAULT_THRESHOLDS
    if not isinstance(value, list) or not value:
        raise RulesError(f"{where}: thresholds must be a non-empty list of fractions, e.g. [0.5, 1.0]")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise RulesError(f"{where}: threshold {item!r} is not a number")
        threshold = Decimal(repr(item)) if isinstance(item, float) else Decimal(item)
        if not threshold.is_finite() or threshold <= 0:
            raise RulesError(f"{where}: threshold {item!r} must be above zero (1.0 is the limit)")
        out.append(threshold)
    if len({threshold_text(t) for t in out}) != len(out):
        raise RulesError(f"{where}: thresholds repeat")
    return tuple(sorted(out))


def scope_rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(r for r in rules if r.kind == "scope")


def label_keys(rules: Iterable[Rule]) -> frozenset[str]:
    return frozenset(r.label for r in rules if r.label is not None)


@dataclass
class LabelSpend:
    """Spend per (label key, value), summed from usage events, each ``event_id`` once.

    The usage topic is at-least-once: a replayed delta carries the same ``event_id`` and
    the same content, so the first copy counts and every later one is dropped.
    """

    keys: frozenset[str]
    totals: dict[tuple[str, str], Totals]
    seen: set[str]

    @classmethod
    def of(cls, keys: frozenset[str]) -> LabelSpend:
        return cls(keys, {}, set())

    def add(self, event: UsageEvent) -> list[tuple[str, str]]:
        """Count one event; the (key, value) pairs whose totals changed."""
        pairs = [(k, v) for k, v in event.labels.items() if k in self.keys]
        if not pairs or event.event_id in self.seen:
            return []
        self.seen.add(event.event_id)
        for pair in pairs:
            self.totals[pair] = self.totals.get(pair, Totals()).plus(event)
        return pairs
