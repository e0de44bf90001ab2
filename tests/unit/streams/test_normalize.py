"""Stage 1 of the worker: every raw record gets exactly one outcome (schemas/normalize.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas import envelope
from schemas.accounting import ledger_key
from schemas.normalize import StreamState, normalize_record
from schemas.raw import encode_headers
from schemas.sources import LineContext

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STREAM = "runner:/f.jsonl"
KEY = STREAM.encode()


def headers(position: int, *, source: str = "claude-json", at: datetime = T0) -> list[tuple[str, bytes]]:
    return encode_headers(LineContext(source, "runner", STREAM, position, at, lineage=("root",)))


def test_real_result_line_is_usage_with_lineage_and_watermark(real_fixtures: Path) -> None:
    line = (real_fixtures / "claude-json" / "result-success.json").read_bytes().strip()
    outcome = normalize_record(line, headers(1), lambda _s: None, key=KEY)
    assert outcome.kind == "usage"
    (obs,) = outcome.observations
    assert obs.tokens.input_tokens == 4 and obs.tokens.cache_read_tokens == 11459
    assert obs.lineage == ("root",)
    assert outcome.context is not None and outcome.context.stream_watermark == T0
    assert outcome.new_state is not None and outcome.new_state.high_water == 1
    decoded, context = envelope.decode(envelope.encode(obs, outcome.context))
    assert decoded == obs and context == outcome.context
    # a result is the total of its session's run group: routed with the run's messages
    assert ledger_key(obs) == "group:claude:145cc619-8afc-49bd-8c24-81ce5bebe88d"


def test_position_at_or_below_high_water_is_a_transport_duplicate() -> None:
    state = StreamState(5, None, T0)
    for position in (1, 5):
        assert normalize_record(b"{}", headers(position), lambda _s: state, key=KEY).kind == "duplicate"
    assert normalize_record(b"{}", headers(6), lambda _s: state, key=KEY).kind == "dead"


def test_stream_watermark_never_goes_back() -> None:
    state = StreamState(1, None, T0 + timedelta(hours=1))
    line = b'{"type":"result","session_id":"s","uuid":"u","total_cost_usd":0.5,"usage":{"input_tokens":1}}'
    outcome = normalize_record(line, headers(2, at=T0), lambda _s: state, key=KEY)
    assert outcome.context is not None and outcome.context.stream_watermark == T0 + timedelta(hours=1)


def test_missing_headers_and_unknown_format_are_dead_letters() -> None:
    assert normalize_record(b"{}", [], lambda _s: None, key=KEY).reason == "missing header ss-format"
    outcome = normalize_record(b"{}", headers(1, source="nope"), lambda _s: None, key=KEY)
    assert outcome.kind == "dead" and outcome.reason == "unknown format 'nope'"
    assert outcome.new_state is not None  # a re-published bad line is then a duplicate


def test_a_record_keyed_by_another_stream_or_by_nothing_is_dead_without_touching_state() -> None:
    line = b'{"type":"result","session_id":"s","uuid":"u","total_cost_usd":0.5,"usage":{"input_tokens":1}}'
    for key, reason in (
        (b"runner:/other.jsonl", "record key is not its ss-stream header"),
        (None, "record has no key"),
    ):
        outcome = normalize_record(line, headers(1), lambda _s: None, key=key)
        assert (outcome.kind, outcome.reason, outcome.new_state) == ("dead", reason, None)


def test_a_repeated_contract_header_is_dead_with_a_reason() -> None:
    line = b'{"type":"system"}'
    for name, value in (("ss-pos", b"2"), ("ss-label-task", b"t")):
        record_headers = [*headers(1), (name, value)]
        if name.startswith("ss-label-"):
            record_headers.append((name, b"u"))
        outcome = normalize_record(line, record_headers, lambda _s: None, key=KEY)
        assert (outcome.kind, outcome.reason) == ("dead", f"header {name} repeated")


@given(st.binary(max_size=2000), st.sampled_from(["claude-json", "claude-transcript", "codex-json"]))
def test_any_bytes_get_exactly_one_outcome(value: bytes, source: str) -> None:
    outcome = normalize_record(value, headers(1, source=source), lambda _s: None, key=KEY)
    assert outcome.kind in {"usage", "no_usage", "dead"}
    if outcome.kind == "dead":
        assert outcome.reason
        assert value[:40] not in outcome.reason.encode() or len(value) < 8


def test_a_run_scope_replaces_the_cli_session_in_scope_and_lineage() -> None:
    import dataclasses

    from schemas.normalize import rescope
    from schemas.sources import Observation
    from schemas.usage import TokenCounts

    sub = Observation(
        identity="x", session_id="cli-sess/agent-toolu_1", event_time=T0, tokens=TokenCounts(input_tokens=1),
        lineage=("root-run", "cli-sess"),
    )  # fmt: skip
    moved = rescope(sub, "child-run")
    assert moved.session_id == "child-run/agent-toolu_1"
    assert moved.lineage == ("root-run", "child-run")
    top = rescope(dataclasses.replace(sub, session_id="cli-sess", lineage=("root-run",)), "child-run")
    assert (top.session_id, top.lineage) == ("child-run", ("root-run",))
    assert rescope(sub, None) is sub


def test_rollup_skips_a_repeated_origin_key_by_key() -> None:
    from decimal import Decimal

    from schemas.accounting import RollupView, Stored, WindowConfig, rollup_step
    from schemas.usage import TokenCounts, UsageEvent

    totals: dict[str, Stored[Any]] = {}
    windows: dict[str, Stored[Any]] = {}

    def apply(event: UsageEvent, origin: tuple[int, int] = (2, 40)) -> None:
        view = RollupView(totals.get, windows.get)
        rollup_step(event, view, WindowConfig((60,), 0), origin)
        totals.update(view.totals_writes)
        windows.update(view.windows_writes)

    usage = UsageEvent(
        event_id="e1", source="claude-json", runner_id="r", session_id="child", lineage=("root",),
        event_time=T0, tokens=TokenCounts(input_tokens=3), cost_usd=Decimal("0.5").quantize(Decimal("1e-12")),
        cost_source="reported",
    )  # fmt: skip
    apply(usage)
    lost = totals.pop("child")  # the child's changelog write did not survive a crash
    apply(usage)  # the same event again: the root keeps its count, the child gets it back
    assert totals["root"].record.subtree.events == 1
    assert totals["child"].record == lost.record
    apply(usage, (2, 39))  # an older input of the same ledger partition: already applied
    apply(usage, (1, 39))  # another partition's input: new usage
    assert totals["root"].record.subtree.events == 2
    assert totals["root"].origins == ((1, 39), (2, 40))
    apply(usage.with_changes(event_id="e2"))
    assert totals["root"].record.subtree.cost_usd == Decimal(1)
    assert windows[next(iter(windows))].record.subtree.events == 2
