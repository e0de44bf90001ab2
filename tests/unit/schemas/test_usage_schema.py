"""schemas/usage.schema.json describes UsageEvent.to_json exactly: real events pass, bad ones fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from schemas.usage import UsageEvent

from .support import account, fixture_lines, parse_stream

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schemas" / "usage.schema.json"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def real_events(real: Path) -> Iterator[UsageEvent]:
    sources: list[tuple[str, Path, dict[str, Any]]] = [
        ("claude-transcript", real / "claude-transcript", {}),
        ("claude-json", real / "claude-json", {}),
        ("claude-stream-json", real / "claude-stream-json", {"lineage": ("fleet-root",)}),
        ("codex-json", real / "codex-exec-json", {"labels": {"model": "gpt-5-codex"}}),
        ("openclaw", FIXTURES / "openclaw", {}),
    ]
    for fmt, folder, ctx in sources:
        for path in sorted(folder.glob("*.json*")):
            yield from account(parse_stream(fmt, fixture_lines(path), stream=str(path), **ctx))
    for path in sorted((FIXTURES / "gemini").glob("*.json")):
        yield from account(parse_stream("gemini-json", [path.read_bytes()], stream=str(path)))


def test_every_real_event_validates(real_fixtures: Path, validator: Draft202012Validator) -> None:
    events = list(real_events(real_fixtures))
    assert len(events) > 200
    seen: set[Any] = set()
    for event in events:
        document = orjson.loads(event.to_json())
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], (event.source, errors)
        seen |= {
            event.source,
            event.cost_source,
            event.auth_mode,
            bool(event.lineage),
            event.agent_id is None,
        }
    # The sample covers every source, every cost source, subscription, lineage and subagents.
    assert seen >= {"claude-transcript", "claude-json", "claude-stream-json", "codex-json", "gemini-json"}
    assert seen >= {"openclaw", "reported", "computed", "subscription", True, False}


def sample(real_fixtures: Path) -> dict[str, Any]:
    event = next(real_events(real_fixtures))
    document: dict[str, Any] = orjson.loads(event.to_json())
    return document


@pytest.mark.parametrize(
    "change",
    [
        {"output_tokens": -1},
        {"input_tokens": 1.5},
        {"cache_read_tokens": "10"},
        {"cost_usd": 10.5},
        {"cost_usd": "10.5"},
        {"cost_source": "guessed"},
        {"auth_mode": "free"},
        {"schema_version": 2},
        {"session_id": ""},
        {"event_time": "yesterday"},
        {"prompt": "hello"},
    ],
)
def test_schema_rejects(real_fixtures: Path, validator: Draft202012Validator, change: dict[str, Any]) -> None:
    assert validator.is_valid(sample(real_fixtures))
    assert not validator.is_valid({**sample(real_fixtures), **change})


def test_schema_requires_every_field_to_json_writes(real_fixtures: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert sorted(schema["required"]) == sorted(schema["properties"]) == sorted(sample(real_fixtures))
