"""Issue 13 item 2: the auth mode on the wire (ss-auth), its evidence order, and totals kept apart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from schemas.normalize import normalize_record, settle_auth
from schemas.raw import decode_headers, encode_headers, encode_record
from schemas.rollup import ScopeTotals, Totals, roll_up
from schemas.sources import BadLine, LineContext, Observation
from schemas.sources.claude_stream_json import init_auth, parse
from schemas.usage import AuthMode, TokenCounts, UsageEvent
from tests.unit.schemas.support import context

AT = datetime(2026, 1, 6, 9, 30, tzinfo=UTC)
BASE = LineContext("claude-json", "host-1", "host-1:run:r1", 1, AT, (), "r1")
RESULT = (
    b'{"type":"result","session_id":"s","uuid":"u1","total_cost_usd":0.5,'
    b'"usage":{"input_tokens":1,"output_tokens":2}}'
)


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("mode", ["api_key", "subscription"])
def test_ss_auth_travels_with_where_it_came_from(mode: AuthMode, declared: bool) -> None:
    sent = replace(BASE, auth_mode=mode, auth_declared=declared)
    headers = encode_headers(sent)
    assert ("ss-auth", mode.encode()) in headers
    assert ("ss-auth-from", b"declared" if declared else b"environment") in headers
    assert decode_headers(headers, key=b"host-1:run:r1") == sent


def test_no_evidence_sends_no_header_and_a_bad_one_is_refused() -> None:
    assert not [name for name, _ in encode_headers(BASE) if name.startswith("ss-auth")]
    headers = encode_headers(BASE)
    with pytest.raises(BadLine, match="ss-auth is not"):
        decode_headers([*headers, ("ss-auth", b"free")], key=b"host-1:run:r1")
    with pytest.raises(BadLine, match="ss-auth-from"):
        decode_headers([*headers, ("ss-auth", b"api_key"), ("ss-auth-from", b"guess")], key=b"host-1:run:r1")


def _obs(mode: AuthMode | None) -> Observation:
    return Observation("id", "s", AT, TokenCounts(1), auth_mode=mode)


@pytest.mark.parametrize(
    ("header", "declared", "cli", "expected"),
    [
        ("subscription", True, "api_key", "subscription"),  # declared beats the CLI
        ("subscription", False, "api_key", "api_key"),  # the CLI beats the environment
        ("subscription", False, None, "subscription"),  # the environment, when nothing else
        (None, False, "subscription", "subscription"),
        (None, False, None, "unknown"),
    ],
)
def test_evidence_strongest_first(
    header: AuthMode | None, declared: bool, cli: AuthMode | None, expected: AuthMode
) -> None:
    ctx = replace(BASE, auth_mode=header, auth_declared=declared)
    assert settle_auth(_obs(cli), ctx).auth_mode == expected


def test_every_observation_of_the_worker_names_its_mode() -> None:
    key, value, headers = encode_record(replace(BASE, auth_mode="api_key"), [RESULT])
    outcome = normalize_record(value, headers, lambda _stream: None, key=key)
    assert [o.auth_mode for o in outcome.observations] == ["api_key"]
    key, value, headers = encode_record(BASE, [RESULT])
    outcome = normalize_record(value, headers, lambda _stream: None, key=key)
    assert [o.auth_mode for o in outcome.observations] == ["unknown"]


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        ({"apiKeySource": "ANTHROPIC_API_KEY", "model": "claude-sonnet-4-5"}, "api_key"),
        ({"apiKeySource": "none", "model": "claude-sonnet-4-5"}, "subscription"),
        ({"apiKeySource": "none", "model": "us.anthropic.claude-sonnet-4-5-v1:0"}, "api_key"),
        ({"apiKeySource": "none", "model": "claude-sonnet-4-5@20250929"}, "api_key"),
        ({"model": "claude-sonnet-4-5"}, None),
    ],
)
def test_stream_json_init_line_reports_the_mode(init: dict[str, str], expected: AuthMode | None) -> None:
    assert init_auth({"type": "system", "subtype": "init", **init}) == expected


def test_stream_json_carries_the_init_lines_mode_to_later_usage() -> None:
    init = orjson.dumps({"type": "system", "subtype": "init", "session_id": "s", "apiKeySource": "none"})
    _, state = parse(init, context("claude-stream-json", 1), None)
    assert state == {"auth": "subscription"}
    observations, state = parse(RESULT, context("claude-stream-json", 2), state)
    assert [o.auth_mode for o in observations] == ["subscription"]
    assert state == {"auth": "subscription"}


def _event(event_id: str, cost: str, mode: AuthMode | None) -> UsageEvent:
    return UsageEvent(
        event_id,
        "claude-json",
        "r",
        "child",
        AT,
        TokenCounts(1),
        Decimal(cost),
        "reported",
        ("root",),
        auth_mode=mode,
    )


def test_totals_keep_billable_and_advisory_cost_apart_unknown_is_billable() -> None:
    records: dict[str, ScopeTotals] = {}
    for event in (_event("a", "1", "api_key"), _event("b", "2", "subscription"), _event("c", "4", "unknown")):
        for record in roll_up(event, records.get):
            records[record.scope] = record
    subtree = records["root"].subtree
    assert (subtree.cost_usd, subtree.billable_cost_usd, subtree.advisory_cost_usd) == (7, 5, 2)
    assert subtree.unknown_auth_cost_usd == 4
    as_json = subtree.to_json_dict()
    assert (as_json["billable_cost_usd"], as_json["advisory_cost_usd"]) == (
        "5.000000000000",
        "2.000000000000",
    )
    assert Totals.from_json_dict(as_json) == subtree


def test_a_total_from_before_the_split_is_all_of_unknown_mode() -> None:
    old = {"input_tokens": 1, "cost_usd": "3.000000000000", "events": 2}
    totals = Totals.from_json_dict(old)
    assert (totals.billable_cost_usd, totals.advisory_cost_usd, totals.unknown_auth_cost_usd) == (3, 0, 3)
