"""The rollup's fast paths give what the plain code gives: ``rollup_step`` with one lookup per
key and sums shared per event (schemas/accounting.py, schemas/rollup.py::EventSums) against
the step as it was written before them, and ``RecordJson`` against
``orjson.dumps(record.to_json_dict())``, byte for byte."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson

from schemas.accounting import Origin, RollupView, Stored, WindowConfig, rollup_step
from schemas.rollup import (
    NO_TOTALS,
    EventSums,
    RecordJson,
    ScopeTotals,
    TotalOutOfRange,
    Totals,
    WindowTotals,
    roll_up,
    roll_up_windows,
    window_key,
    window_suffix,
)
from schemas.usage import MAX_TOKENS, TokenCounts, UsageEvent

T0 = datetime(2026, 1, 6, 9, 15, 59, 901000, tzinfo=UTC)
Q = Decimal("1e-12")


def event(
    scope: str, lineage: tuple[str, ...], cost: Decimal, tokens: int = 10, *, at: datetime = T0, n: int = 0,
    watermark: datetime | None = None, auth: Any = None,
) -> UsageEvent:  # fmt: skip
    return UsageEvent(
        event_id=f"e-{scope}-{n}", source="claude-json", runner_id="r", session_id=scope, lineage=lineage,
        event_time=at, tokens=TokenCounts(input_tokens=tokens, output_tokens=n % 7), cost_usd=cost,
        cost_source="reported", auth_mode=auth, source_watermark=watermark,
    )  # fmt: skip


def reference_step(
    event: UsageEvent, view: RollupView, windows: WindowConfig, origin: Origin | None = None
) -> bool:
    """rollup_step as it was before its fast path (commit 429f944), on the public functions."""
    view.last_touched.clear()
    skipped_windows: list[str] = []

    def totals(scope: str) -> ScopeTotals | None:
        stored = view.stored_totals(scope)
        return stored.record if stored is not None else None

    def totals_applied(scope: str) -> bool:
        stored = view.stored_totals(scope)
        return stored is not None and stored.applied(origin)

    def window(key: str) -> WindowTotals | None:
        stored = view.stored_window(key)
        return stored.record if stored is not None else None

    def window_applied(key: str) -> bool:
        stored = view.stored_window(key)
        done = stored is not None and stored.applied(origin)
        if done:
            skipped_windows.append(key)
        return done

    records = roll_up(event, totals, totals_applied)
    sizes, grace = windows.sizes_seconds, windows.grace_seconds
    window_records = roll_up_windows(event, sizes, event.source_watermark, grace, window, window_applied)
    for record in records:
        stored = view.stored_totals(record.scope) or Stored(record)
        view.totals_writes[record.scope] = stored.after(record, origin)
    for record_w in window_records:
        stored_w = view.stored_window(record_w.key) or Stored(record_w)
        view.windows_writes[record_w.key] = stored_w.after(record_w, origin)
    for scope in event.scopes:
        view.touched_totals[scope] = None
        view.last_touched.append(scope)
    for key in (*(r.key for r in window_records), *skipped_windows):
        view.touched_windows[key] = None
        view.last_touched.append(key)
    return bool(records or window_records)


def _stored_text(stored: dict[str, Stored[Any]]) -> list[tuple[str, str, bytes, tuple[Origin, ...]]]:
    """Every key's record as repr (exact Decimal exponents, tz) and JSON, and its marks, in order."""
    return [(k, repr(v.record), orjson.dumps(v.record.to_json_dict()), v.origins) for k, v in stored.items()]


def _random_events(rng: random.Random, count: int) -> list[tuple[UsageEvent, Origin]]:
    trees = [
        ("r", ()), ("r/a", ("r",)), ("r/b", ("r",)), ("r/a/x", ("r", "r/a")), ("q", ()),
        ("q/1", ("q",)), ("dup", ("d", "d")),  # a lineage may name an ancestor twice
    ]  # fmt: skip
    costs = [Decimal(0).quantize(Q), Decimal("0.5"), Decimal("-0").quantize(Q), Decimal("0.000000000001"),
             Decimal("1.25").quantize(Q), Decimal("3")]  # fmt: skip
    out: list[tuple[UsageEvent, Origin]] = []
    for n in range(count):
        scope, lineage = rng.choice(trees)
        at = T0 + timedelta(seconds=rng.randrange(-7200, 7200), microseconds=rng.randrange(10**6))
        if rng.random() < 0.2:
            at = at.astimezone(timezone(timedelta(hours=-5)))
        watermark = None if rng.random() < 0.3 else at + timedelta(seconds=rng.choice((0, 100, 400, 5000)))
        huge = rng.random() < 0.08  # toward the ranges: some totals leave them
        tokens = MAX_TOKENS // 3 if huge and rng.random() < 0.5 else rng.choice((10, 1000))
        cost = Decimal(10**12 // 3) if huge and tokens < 1000 else rng.choice(costs)
        e = event(scope, lineage, cost, tokens, at=at, n=n, watermark=watermark,
                  auth=rng.choice((None, "api_key", "subscription", "unknown")))  # fmt: skip
        origin = (rng.randrange(3), n * 10)
        out.append((e, origin))
        if rng.random() < 0.25:  # a replay of an earlier delta (after a crash)
            out.append(out[rng.randrange(len(out))])
    return out


def _run(step: Any, deltas: list[tuple[UsageEvent, Origin]], batch: int) -> list[Any]:
    """Every delta through ``step`` in batches (writes stored after each), what each step did."""
    totals: dict[str, Stored[Any]] = {}
    windows: dict[str, Stored[Any]] = {}
    seen: list[Any] = []
    config = WindowConfig((60, 3600), 300)
    for first in range(0, len(deltas), batch):
        view = RollupView(totals.get, windows.get)
        for e, origin in deltas[first : first + batch]:
            try:
                applied: Any = step(e, view, config, origin)
            except TotalOutOfRange as exc:
                applied = ("out of range", exc.reason)
            seen.append((applied, list(view.last_touched)))
        seen.append((list(view.touched_totals), list(view.touched_windows)))
        seen.append((_stored_text(view.totals_writes), _stored_text(view.windows_writes)))
        totals.update(view.totals_writes)
        windows.update(view.windows_writes)
    return seen


def test_rollup_step_gives_what_the_step_before_its_fast_path_gave() -> None:
    for seed in range(12):
        deltas = _random_events(random.Random(seed), 150)
        for batch in (1, 7, 200):
            assert _run(rollup_step, deltas, batch) == _run(reference_step, deltas, batch), (seed, batch)


def test_rollup_step_exact_values_of_a_child_its_root_and_their_windows() -> None:
    view = RollupView(lambda _s: None, lambda _k: None)
    child = event("root/s1", ("root",), Decimal("0.25").quantize(Q), at=T0, auth="subscription")
    assert rollup_step(child, view, WindowConfig((60, 3600), 300), (3, 70))
    root, leaf = view.totals_writes["root"].record, view.totals_writes["root/s1"].record
    assert root.own == NO_TOTALS and root.own is not leaf.own
    assert leaf.own is leaf.subtree is root.subtree  # one sum, shared
    assert leaf.own.tokens == TokenCounts(input_tokens=10)
    assert (leaf.own.cost_usd, leaf.own.advisory_cost_usd, leaf.own.events) == (
        Decimal("0.25"),
        Decimal("0.25"),
        1,
    )
    assert (root.children, leaf.children, root.version, leaf.version) == (1, 0, 1, 1)
    assert list(view.windows_writes) == [
        "root|60|1767690900", "root/s1|60|1767690900", "root|3600|1767690000", "root/s1|3600|1767690000",
    ]  # fmt: skip
    for stored in view.windows_writes.values():
        assert stored.origins == ((3, 70),)
        assert stored.record.subtree is leaf.subtree  # the same sum again, encoded once
    assert view.last_touched == ["root", "root/s1", *view.windows_writes]
    assert orjson.loads(RecordJson().scope_totals(leaf))["subtree"] == {
        "input_tokens": 10, "output_tokens": 0, "reasoning_tokens": 0, "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "web_search_requests": 0,
        "cost_usd": "0.250000000000", "billable_cost_usd": "0.000000000000",
        "advisory_cost_usd": "0.250000000000", "unknown_auth_cost_usd": "0.000000000000", "events": 1,
    }  # fmt: skip


def test_event_sums_add_once_per_totals_object() -> None:
    e = event("s", (), Decimal("0.5").quantize(Q), 7)
    sums = EventSums(e)
    first = sums.plus(NO_TOTALS)
    assert sums.plus(NO_TOTALS) is first
    assert (
        first
        == NO_TOTALS.plus(e)
        == Totals(TokenCounts(input_tokens=7), Decimal("0.5"), 1, Q * 0, Decimal("0.5"))
    )
    other = Totals()
    assert other == NO_TOTALS and other is not NO_TOTALS
    assert sums.plus(other) is not first and sums.plus(other) == first
    big = Totals(TokenCounts(input_tokens=MAX_TOKENS))
    for _ in range(2):  # out of range each time it is asked, never remembered
        try:
            sums.plus(big)
        except TotalOutOfRange as exc:
            reason = f"input_tokens must be a non-negative integer, got {MAX_TOKENS + 7}"
            assert exc.reason == f"a total would leave its range: {reason}"
        else:
            raise AssertionError("a total past MAX_TOKENS was accepted")


def _records(rng: random.Random) -> list[ScopeTotals | WindowTotals]:
    """Records as the rollup makes them and odd ones it could read back from its tables."""
    made: list[ScopeTotals | WindowTotals] = []
    for e, _origin in _random_events(rng, 60):
        state: dict[str, Any] = {}
        try:
            made += roll_up(e, state.get)
            made += roll_up_windows(e, (60, 3600), None, 0, state.get)
        except TotalOutOfRange:
            continue
    plus_two = timezone(timedelta(hours=2))
    odd = Totals(TokenCounts(1, 2, 3, 4, 5, 6, 7), Decimal("-0").quantize(Q), 3, Decimal("0.5"), Decimal(2))
    made += [
        ScopeTotals("s", "s", None),
        ScopeTotals("s", "r", "p", odd, odd, 2, T0.astimezone(plus_two), T0, 9),
        ScopeTotals('s\u00e9"\\', "r", "p", odd, Totals(), 0, None, T0, 1),
        WindowTotals("w", "r", 60, datetime(1960, 1, 1, 0, 1, tzinfo=UTC), odd, odd, 4),
        WindowTotals("w", "r", 3600, datetime(2026, 1, 1, 2, tzinfo=plus_two), NO_TOTALS, odd, 1),
    ]
    return made


def test_record_json_is_to_json_dict_dumped_byte_for_byte() -> None:
    for seed in range(4):
        encoder = RecordJson(max_entries=7 if seed % 2 else 10_000)  # small: starts over often
        for _repeat in range(2):  # the second time from its caches
            for record in _records(random.Random(seed)):
                encode = encoder.scope_totals if isinstance(record, ScopeTotals) else encoder.window_totals
                assert encode(record) == orjson.dumps(record.to_json_dict()), (seed, record)  # type: ignore[arg-type]


def test_record_json_exact_bytes_and_fresh_objects_never_reuse_an_entry() -> None:
    encoder = RecordJson(max_entries=3)
    at = datetime(2026, 1, 6, 11, 15, 59, 901000, tzinfo=timezone(timedelta(hours=2)))
    record = ScopeTotals(
        "c", "r", "r", Totals(), Totals(TokenCounts(input_tokens=5), Decimal("0.5"), 1), 0, at, T0, 3
    )
    assert encoder.scope_totals(record) == (
        b'{"schema_version":1,"scope":"c","root_id":"r","parent_id":"r","own":{"input_tokens":0,'
        b'"output_tokens":0,"reasoning_tokens":0,"cache_read_tokens":0,"cache_write_5m_tokens":0,'
        b'"cache_write_1h_tokens":0,"web_search_requests":0,"cost_usd":"0.000000000000",'
        b'"billable_cost_usd":"0.000000000000","advisory_cost_usd":"0.000000000000",'
        b'"unknown_auth_cost_usd":"0.000000000000","events":0},"subtree":{"input_tokens":5,'
        b'"output_tokens":0,"reasoning_tokens":0,"cache_read_tokens":0,"cache_write_5m_tokens":0,'
        b'"cache_write_1h_tokens":0,"web_search_requests":0,"cost_usd":"0.500000000000",'
        b'"billable_cost_usd":"0.500000000000","advisory_cost_usd":"0.000000000000",'
        b'"unknown_auth_cost_usd":"0.000000000000","events":1},"children":0,'
        b'"first_event_time":"2026-01-06T09:15:59.901000+00:00",'
        b'"last_event_time":"2026-01-06T09:15:59.901000+00:00","version":3}'
    )
    # Totals made and dropped one after the other (CPython may give them one id): each its own text.
    for n in range(50):
        fresh = ScopeTotals("s", "s", None, Totals(TokenCounts(input_tokens=n)), Totals(events=n))
        assert encoder.scope_totals(fresh) == orjson.dumps(fresh.to_json_dict())


def test_stored_marks_are_those_of_the_plain_rule() -> None:
    """``after`` and ``applied`` (a loop and a one-mark shortcut) against their rule as written first."""
    record = ScopeTotals("s", "s", None)
    cases: list[tuple[Origin, ...]] = [
        (), ((2, 5),), ((3, 5),), ((1, 9),), ((0, 1), (2, 5), (7, 3)), ((7, 3), (0, 1)),  # unsorted
        ((2, 5), (2, 1)), ((2, 8), (1, 0), (2, 3)),  # a partition twice (never written so, but readable)
    ]  # fmt: skip
    for origins in cases:
        stored = Stored(record, origins)
        for origin in ((2, 4), (2, 5), (2, 6), (0, 0), (9, 1)):
            partition, offset = origin
            rest = tuple(item for item in origins if item[0] != partition)
            assert stored.after(record, origin).origins == tuple(sorted((*rest, (partition, offset))))
            assert stored.applied(origin) == any(p == partition and offset <= o for p, o in origins)
        assert stored.after(record, None).origins is origins
        assert not stored.applied(None)
    assert Stored(record, ((2, 5),)).after(record, (2, 9)).origins == ((2, 9),)
    assert Stored(record, ((7, 3), (0, 1))).after(record, (2, 9)).origins == ((0, 1), (2, 9), (7, 3))
    assert Stored(record, ((2, 8), (1, 0), (2, 3))).after(record, (2, 4)).origins == ((1, 0), (2, 4))


def test_a_window_key_is_its_scope_and_suffix() -> None:
    for start, size in (
        (datetime(2026, 1, 6, 9, 15, tzinfo=UTC), 60),
        (datetime(1960, 1, 1, tzinfo=UTC), 3600),
    ):
        assert window_key("root/s1", size, start) == "root/s1" + window_suffix(size, start)
    assert window_suffix(60, datetime(2026, 1, 6, 9, 15, tzinfo=UTC)) == "|60|1767690900"
    assert window_suffix(3600, datetime(1960, 1, 1, tzinfo=UTC)) == "|3600|-315619200"
