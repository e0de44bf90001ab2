"""``schemas.records.replaced`` is ``dataclasses.replace``: the same objects, checks and errors."""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from schemas.ledger import IdentityState
from schemas.ledger_groups import ModelShare
from schemas.normalize import Outcome, StreamState
from schemas.records import _PLANS, replaced
from schemas.rollup import ScopeTotals
from schemas.sources.base import LineContext, Observation
from schemas.usage import SchemaError, TokenCounts

T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
CONTEXT = LineContext(
    "claude-transcript", "runner", "runner:/f", 7, T0, ("root",), "hint", {"team": "a"}, "api", True, T0
)
OBSERVATION = Observation(
    "claude:s:msg", "s", T0, TokenCounts(1, 2, 0, 3, 4, 0, 0), Decimal("0.5"), "claude-opus-4-5",
    ("root",), None, "subscription", "claude:s", False, None, "msg", "req",
)  # fmt: skip


def _other(value: Any) -> Any:
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, datetime):
        return value + timedelta(seconds=1)
    if isinstance(value, Decimal):
        return value + 1
    if isinstance(value, tuple):
        return (*value, "y")
    if isinstance(value, dict):
        return {**value, "k": "v"}
    if isinstance(value, TokenCounts):
        return value + TokenCounts(1)
    return None if value is not None else "z"


@pytest.mark.parametrize(
    "obj",
    [
        CONTEXT,
        OBSERVATION,
        IdentityState(TokenCounts(1, 2), Decimal("0.5"), Decimal("0.25")),
        ModelShare(TokenCounts(1), Decimal("0.1"), TokenCounts(2), Decimal("0.2")),
        StreamState(3, {"p": 1}, T0),
        Outcome("usage", CONTEXT, observations=(OBSERVATION,)),
        ScopeTotals("s", "root", "root", children=2, first_event_time=T0, last_event_time=T0, version=3),
    ],
    ids=lambda o: type(o).__name__,
)
def test_every_field_of_the_hot_records_replaces_as_dataclasses_does(obj: Any) -> None:
    names = [f.name for f in dataclasses.fields(obj)]
    assert replaced(obj) == dataclasses.replace(obj) and replaced(obj) is not obj
    for name in names:
        value = _other(getattr(obj, name))
        assert replaced(obj, **{name: value}) == dataclasses.replace(obj, **{name: value}), name
    both = {names[0]: _other(getattr(obj, names[0])), names[-1]: _other(getattr(obj, names[-1]))}
    assert replaced(obj, **both) == dataclasses.replace(obj, **both)
    assert _PLANS[type(obj)] is not None  # the fast way was taken


def test_checks_still_run_and_unknown_fields_fail_the_same_way() -> None:
    state = IdentityState(TokenCounts(1))
    with pytest.raises(TypeError) as ours:
        replaced(state, nope=1)
    with pytest.raises(TypeError) as theirs:
        dataclasses.replace(state, nope=1)  # type: ignore[call-arg]
    assert str(ours.value) == str(theirs.value) and "nope" in str(ours.value)
    with pytest.raises(SchemaError):
        replaced(TokenCounts(1, 2), output_tokens=-1)
    with pytest.raises(TypeError):
        replaced(object())


@dataclass
class _Derived:
    a: int
    b: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.b = self.a * 2


@dataclass
class _KeywordOnly:
    a: int
    b: int = field(kw_only=True, default=0)


@dataclass
class _WithInitVar:
    a: int
    scale: InitVar[int] = 1
    b: int = 0

    def __post_init__(self, scale: int) -> None:
        self.b = self.a * scale


@dataclass
class _OwnInit:
    a: int
    b: int

    def __init__(self, b: int, a: int) -> None:  # parameters in another order
        self.a, self.b = a, b


def test_classes_it_cannot_call_positionally_go_through_dataclasses_replace() -> None:
    assert replaced(_Derived(2), a=3) == dataclasses.replace(_Derived(2), a=3) == _Derived(3)
    with pytest.raises(ValueError, match="init=False"):
        replaced(_Derived(2), b=1)
    assert replaced(_KeywordOnly(1, b=2), a=5) == _KeywordOnly(5, b=2)
    assert replaced(_WithInitVar(2, 3), a=4, scale=5) == dataclasses.replace(_WithInitVar(2, 3), a=4, scale=5)
    assert replaced(_OwnInit(b=1, a=2), a=3) == dataclasses.replace(_OwnInit(b=1, a=2), a=3)
    for cls in (_Derived, _KeywordOnly, _WithInitVar, _OwnInit):
        assert _PLANS[cls] is None
