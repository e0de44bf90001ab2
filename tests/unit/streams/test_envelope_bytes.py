"""The observations envelope's bytes are a contract: ``envelope.encode`` writes exactly what
the field-by-field codec (``_encode_value`` for every field) writes, for real observations and
contexts carrying every kind of value."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from schemas import envelope
from schemas.sources import PARSERS, BadLine, LineContext, Observation
from schemas.usage import SchemaError, TokenCounts

T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


def _reference(observation: Observation, context: LineContext) -> bytes:
    def fields(obj: Any) -> dict[str, Any]:
        return {f.name: envelope._encode_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)}

    return orjson.dumps({"v": envelope.ENVELOPE_VERSION, "obs": fields(observation), "ctx": fields(context)})


def _contexts() -> list[LineContext]:
    return [
        LineContext("claude-transcript", "runner", "runner:/f", 3, T0),
        LineContext(
            "claude-json", "r", "r:/g", 10**12, T0 + timedelta(microseconds=7), ("root", "child"), "hint",
            {"team": "a", "b": ""}, "api", True,
            datetime(2026, 1, 6, 13, tzinfo=timezone(timedelta(hours=2))),
        ),
    ]  # fmt: skip


def _observations(real: Path) -> list[Observation]:
    found: list[Observation] = []
    folders = {"claude-transcript": "claude-transcript", "claude-json": "claude-json"}
    folders |= {"claude-stream-json": "claude-stream-json", "codex-json": "codex-exec-json"}
    for fmt, name in folders.items():
        folder = real / name
        if not folder.exists():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            for position, line in enumerate(path.read_bytes().splitlines(), 1):
                try:
                    observations, _ = PARSERS[fmt](line, LineContext(fmt, "r", "s", position, T0), None)
                except (BadLine, SchemaError):
                    continue
                found.extend(observations)
    found.append(
        Observation(
            "id", "s", T0, TokenCounts(1, 2, 3, 4, 5, 6, 7), Decimal("0.5"), "m", ("root",), "a",
            "subscription", "g", True, "claude-json", "msg", "req",
        )
    )  # fmt: skip
    return found


def test_encode_writes_the_field_by_field_bytes(real_fixtures: Path) -> None:
    observations = _observations(real_fixtures)
    assert len(observations) > 100
    for context in _contexts():
        for observation in observations:
            data = envelope.encode(observation, context)
            assert data == _reference(observation, context)
            assert envelope.decode(data) == envelope.decode(_reference(observation, context))
