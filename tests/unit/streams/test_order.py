"""A stage's inputs in offset order: a record after a skipped one is caught before it is handled."""

from __future__ import annotations

from dataclasses import dataclass

from streams.order import InputOrder


@dataclass(frozen=True)
class Message:
    tp: str
    offset: int


@dataclass(frozen=True)
class Event:
    message: Message


def events(*records: tuple[str, int]) -> list[Event]:
    return [Event(Message(tp, offset)) for tp, offset in records]


def test_consecutive_offsets_and_replays_pass() -> None:
    order = InputOrder(lambda tp: {"a": 5}.get(tp))
    assert order.first_gap(events(("a", 5), ("a", 6), ("b", 40), ("b", 41))) is None
    assert order.first_gap(events(("a", 7), ("a", 3), ("a", 4))) is None  # a replay after a seek
    assert order.first_gap(events(("a", 5), ("b", 42))) is None


def test_a_record_after_a_skipped_one_is_a_gap() -> None:
    order = InputOrder(lambda tp: None)
    assert order.first_gap(events(("a", 0), ("a", 1))) is None
    assert order.first_gap(events(("a", 2), ("a", 4), ("a", 5))) == ("a", 3, 4)


def test_after_an_assignment_the_committed_offset_is_expected() -> None:
    committed = {"a": 10}
    order = InputOrder(committed.get)
    assert order.first_gap(events(("a", 11))) == ("a", 10, 11)  # offset 10 skipped at the head
    order = InputOrder(committed.get)
    assert order.first_gap(events(("a", 10), ("a", 11))) is None
    committed["a"] = 30  # another worker moved the partition on while it was away
    assert order.first_gap(events(("a", 30))) == ("a", 12, 30)
    order.forget(["a"])
    assert order.first_gap(events(("a", 30), ("a", 31))) is None


def test_a_partition_with_no_committed_offset_expects_its_log_start() -> None:
    """A new group's partition moved by a rebalance before its first owner committed: it is
    read from its log start, so a first record beyond it means the head was skipped."""
    order = InputOrder(lambda tp: {"b": 7}.get(tp))
    batch = events(("a", 24), ("a", 25), ("b", 7), ("c", 3))
    assert order.unknown_starts(batch) == {"a", "c"}
    order.learn_starts({"a": 0, "c": 3})
    assert order.first_gap(batch) == ("a", 0, 24)  # records 0..23 were never handed over
    order = InputOrder(lambda tp: None)
    order.learn_starts({"a": 24})  # retention moved the log start to 24: nothing skipped
    assert order.first_gap(events(("a", 24), ("a", 25))) is None
    assert order.unknown_starts(events(("a", 26))) == set()  # known from its records now
    order.forget(["a"])
    assert order.unknown_starts(events(("a", 26))) == {"a"}
    order.learn_starts({"a": 30})  # a log start past the first record: a replay, absorbed
    assert order.first_gap(events(("a", 26), ("a", 27))) is None
    order.learn_starts({"b": -1})  # no offset known: the first record sets the expectation
    assert order.first_gap(events(("b", 5), ("b", 6))) is None
