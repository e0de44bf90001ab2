"""``plain_response`` (the one-pass reading of a common assistant line) agrees with the
general reading (``_assistant``): when it returns a tuple, the general reading yields exactly
the observation ``parse`` builds from it; when the general reading rejects a line, it
returns None."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.sources.base import BadLine, LineContext, Observation
from schemas.sources.claude_transcript import (
    FORMAT,
    _assistant,
    _plain_observation,
    parse,
    plain_response,
)
from schemas.usage import TokenCounts

from ..support import PUBLISHED, fixture_lines
from .test_hostile_input import json_objects

CONTEXT = LineContext(FORMAT, "runner-1", "stream-1", 1, PUBLISHED)
SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"


def agrees(obj: Any) -> bool:
    """Assert the two readings agree on ``obj``; True when the one-pass reading applied."""
    plain = plain_response(obj)
    try:
        general: list[Observation] | None = _assistant(obj, CONTEXT)
    except BadLine:
        general = None
    if general is None:
        assert plain is None, obj
    if plain is None:
        return False
    observation = _plain_observation(plain, CONTEXT)
    assert general == [observation], obj
    line = json.dumps(obj).encode()
    assert parse(line, CONTEXT, None) == ([observation], None)
    return True


def test_every_fixture_assistant_line_is_read_in_one_pass(real_fixtures: Path) -> None:
    lines = fixture_lines(real_fixtures / "claude-transcript" / f"{SESSION}.jsonl")
    plain = [agrees(orjson.loads(line)) for line in lines]
    assert (len(plain), sum(plain)) == (536, 326)


def test_the_common_shape_exactly() -> None:
    obj = {
        "type": "assistant",
        "sessionId": "s-1",
        "agentId": "a3f9",
        "requestId": "req_1",
        "timestamp": "2026-01-06T09:16:06.951+01:00",
        "message": {
            "id": "msg_1",
            "model": "claude-opus-4-5-20251101",
            "usage": {
                "input_tokens": 3,
                "output_tokens": 7,
                "cache_read_input_tokens": 11,
                "cache_creation_input_tokens": 300,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 250},
                "server_tool_use": {"web_search_requests": 2},
            },
        },
    }
    assert plain_response(obj) == (
        "claude:s-1:msg_1",
        "s-1/agent-a3f9",
        ("s-1",),
        "a3f9",
        "s-1",
        "claude-opus-4-5-20251101",
        "msg_1",
        "req_1",
        datetime(2026, 1, 6, 8, 16, 6, 951000, tzinfo=UTC),
        (3, 7, 0, 11, 100, 250, 2),
    )
    assert agrees(obj)
    (observation,) = _assistant(obj, CONTEXT)
    assert observation.tokens == TokenCounts(
        input_tokens=3,
        output_tokens=7,
        cache_read_tokens=11,
        cache_write_5m_tokens=100,
        cache_write_1h_tokens=250,
        web_search_requests=2,
    )


@pytest.mark.parametrize(
    "change",
    [
        {"costUSD": 0.01},
        {"costUSD": None},
        {"isApiErrorMessage": False},
        {"isSidechain": True, "agentId": None},
        {"requestId": ""},
        {"timestamp": None},
        {"timestamp": "2026-01-06T09:16:06"},
        {"timestamp": "9999-12-31T23:59:59-12:00"},
        {"message": {"id": "m", "model": "<synthetic>", "usage": {}}},
        {"message": {"id": "m", "usage": {}}},
        {"message": {"model": "claude-opus-4-5", "usage": {}}},
        {"type": "user"},
    ],
)
def test_other_shapes_go_the_general_way(change: dict[str, Any]) -> None:
    obj = {
        "type": "assistant",
        "sessionId": "s-1",
        "timestamp": "2026-01-06T09:16:06Z",
        "message": {"id": "m", "model": "claude-opus-4-5", "usage": {"input_tokens": 1}},
        **change,
    }
    assert plain_response(obj) is None
    assert not agrees(obj)


# --- generated variants of an assistant line ---------------------------------------------

LONG = "x" * 513
counts = st.one_of(
    st.none(),
    st.integers(0, 10**6),
    st.sampled_from([0, 10**12, 10**12 + 1, -1, 2**64, 1.5, 3.0, True, "3", [], {}]),
)
texts = st.one_of(
    st.none(),
    st.sampled_from(["", "s-1", "msg_01", "req_01", "a3f9", LONG, "x" * 500, 7, True, [], {}]),
    st.text(min_size=1, max_size=6),
)
stamps: st.SearchStrategy[Any] = st.sampled_from(
    [
        "2026-01-06T09:16:06.951Z",
        "2026-01-06T23:30:00-02:00",
        "2026-01-07T00:30:00+14:00",
        "2026-01-06T09:16:06+05:30",
        "2026-01-06T09:16:06",
        "2026-01-06",
        "20260106T091606Z",
        "2026-01-06T09:16:06.951ZZ",
        "garbage",
        "",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-12:00",
        "8999-12-31T23:59:59Z",
        "2026-01-06T09:16:06.951Z" + " " * 50,
        None,
        17,
        [],
    ]
)
usages = st.one_of(
    st.none(),
    st.sampled_from(["x", [], 0]),
    st.fixed_dictionaries(
        {},
        optional={
            "input_tokens": counts,
            "output_tokens": counts,
            "cache_read_input_tokens": counts,
            "cache_creation_input_tokens": counts,
            "cache_creation": st.one_of(
                st.none(),
                st.sampled_from(["x", []]),
                st.fixed_dictionaries(
                    {}, optional={"ephemeral_5m_input_tokens": counts, "ephemeral_1h_input_tokens": counts}
                ),
            ),
            "server_tool_use": st.one_of(
                st.none(),
                st.sampled_from(["x", [], {}]),
                st.fixed_dictionaries({"web_search_requests": counts}),
            ),
            "service_tier": st.just("standard"),
        },
    ),
)
models = st.one_of(texts, st.sampled_from(["claude-opus-4-5-20251101", "<synthetic>", "unknown-model"]))
ABSENT = object()
# Each field of the common line, and what a generated variant may put there instead
# (ABSENT: the field is left out).
TOP_VARIANTS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["assistant", "user", ABSENT, None, 3]),
    "message": st.sampled_from([None, "x", [], {}, ABSENT]),
    "sessionId": texts | st.just(ABSENT),
    "requestId": texts | st.just(ABSENT),
    "agentId": texts | st.just(ABSENT),
    "isSidechain": st.sampled_from([True, False, None, "true", ABSENT]),
    "uuid": texts,
    "timestamp": stamps | st.just(ABSENT),
    "costUSD": st.sampled_from([None, 0, 0.0123, -1, "x", 10**7]),
    "isApiErrorMessage": st.sampled_from([True, False, None, 1]),
}
MESSAGE_VARIANTS: dict[str, st.SearchStrategy[Any]] = {
    "id": texts | st.just(ABSENT),
    "model": models | st.just(ABSENT),
    "usage": usages | st.just(ABSENT),
}
USAGE_VARIANTS: dict[str, st.SearchStrategy[Any]] = {
    "input_tokens": counts | st.just(ABSENT),
    "output_tokens": counts | st.just(ABSENT),
    "cache_read_input_tokens": counts | st.just(ABSENT),
    "cache_creation_input_tokens": counts | st.just(ABSENT),
    "cache_creation": st.one_of(
        st.none(),
        st.just(ABSENT),
        st.sampled_from(["x", [], {}]),
        st.fixed_dictionaries(
            {}, optional={"ephemeral_5m_input_tokens": counts, "ephemeral_1h_input_tokens": counts}
        ),
    ),
    "server_tool_use": st.one_of(
        st.none(),
        st.just(ABSENT),
        st.sampled_from(["x", [], {}]),
        st.fixed_dictionaries({"web_search_requests": counts}),
    ),
}


def common_line() -> dict[str, Any]:
    return {
        "type": "assistant",
        "sessionId": "s-1",
        "requestId": "req_1",
        "uuid": "u-1",
        "timestamp": "2026-01-06T09:16:06.951Z",
        "message": {
            "id": "msg_1",
            "model": "claude-opus-4-5-20251101",
            "usage": {
                "input_tokens": 3,
                "output_tokens": 7,
                "cache_read_input_tokens": 11,
                "cache_creation_input_tokens": 300,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
                "server_tool_use": {"web_search_requests": 0},
            },
        },
    }


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    if value is ABSENT:
        target.pop(key, None)
    else:
        target[key] = value


@st.composite
def assistant_objects(draw: st.DrawFn) -> dict[str, Any]:
    """The common line with a few fields changed (each to a valid or an invalid value)."""
    obj = common_line()
    for table, where in ((USAGE_VARIANTS, "usage"), (MESSAGE_VARIANTS, "message"), (TOP_VARIANTS, "top")):
        names = draw(st.lists(st.sampled_from(sorted(table)), max_size=3, unique=True))
        for name in names:
            target = (
                obj if where == "top" else obj["message"] if where == "message" else obj["message"]["usage"]
            )
            if isinstance(target, dict):
                _set(target, name, draw(table[name]))
    return obj


@given(obj=assistant_objects())
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_generated_assistant_lines_agree(obj: dict[str, Any]) -> None:
    agrees(obj)


@given(obj=json_objects)
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_objects_agree(obj: dict[str, Any]) -> None:
    agrees({**obj, "type": "assistant"})
