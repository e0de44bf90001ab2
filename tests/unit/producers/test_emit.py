"""The emitter: contract headers, redaction by default, oversize lines held, warnings once."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from producers.emit import Emitter, Origin, file_stream_id
from producers.held import OVERSIZE_TYPE, HeldLines
from producers.lineage import Scope
from producers.records import OutRecord
from schemas.raw import decode_headers, encode_headers
from schemas.sources import LineContext


class Collect:
    def __init__(self, tmp: Path) -> None:
        self.records: list[OutRecord] = []
        self.held = HeldLines(tmp)

    async def put(self, record: OutRecord) -> None:
        self.records.append(record)


def emitter(tmp: Path, **origin: object) -> tuple[Emitter, Collect]:
    sink = Collect(tmp)
    scope = Scope("scope-1", ("root", "parent"))
    made = Emitter(sink, Origin("runner-1", scope, {"job": "j7"}, **origin), max_record_bytes=2048)  # type: ignore[arg-type]
    return made, sink


async def test_headers_are_the_contracts(tmp_path: Path) -> None:
    made, sink = emitter(tmp_path)
    line = b'{"type":"result","session_id":"s","result":"secret","usage":{"input_tokens":3}}'
    await made.emit("claude-json", "runner-1:run:scope-1", 7, line)
    (record,) = sink.records
    context = decode_headers(record.headers, key=record.key)
    assert (context.source, context.runner_id, context.stream_id, context.position) == (
        "claude-json", "runner-1", "runner-1:run:scope-1", 7,
    )  # fmt: skip
    assert (context.lineage, context.session_hint, dict(context.labels)) == (
        ("root", "parent"),
        "scope-1",
        {"job": "j7"},
    )
    reference = encode_headers(
        LineContext(
            "claude-json", "runner-1", "runner-1:run:scope-1", 7, context.published_at,
            ("root", "parent"), "scope-1", {"job": "j7"},
        )
    )  # fmt: skip
    assert list(record.headers) == reference
    assert record.key == b"runner-1:run:scope-1"
    assert b"secret" not in record.value and orjson.loads(record.value)["usage"] == {"input_tokens": 3}


async def test_oversize_line_is_held_and_a_marker_sent(tmp_path: Path) -> None:
    made, sink = emitter(tmp_path)
    line = orjson.dumps({"blob": "y" * 5000})
    await made.emit("someone-elses", "st", 1, line)
    (record,) = sink.records
    assert orjson.loads(record.value)["type"] == OVERSIZE_TYPE
    (held,) = (tmp_path / "held").glob("*.jsonl")
    assert orjson.loads(held.read_bytes())["value"] == line.decode()


async def test_keep_content_falls_back_to_redacted_when_too_large(tmp_path: Path) -> None:
    made, sink = emitter(tmp_path, keep_content=True)
    small = b'{"type":"result","session_id":"s","result":"kept words"}'
    large = orjson.dumps({"type": "result", "session_id": "s", "result": "z" * 5000})
    await made.emit("claude-json", "st", 1, small)
    await made.emit("claude-json", "st", 2, large)
    assert sink.records[0].value == small
    assert orjson.loads(sink.records[1].value)["result"] == ""


async def test_unknown_format_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    made, sink = emitter(tmp_path)
    with caplog.at_level(logging.WARNING):
        for position in (1, 2, 3):
            await made.emit("mystery", "st", position, b'{"a": "as is"}')
    assert [r.value for r in sink.records] == [b'{"a": "as is"}'] * 3
    assert sum("unknown" in message for message in caplog.messages) == 1


def test_file_stream_ids_follow_the_first_line(tmp_path: Path) -> None:
    a = file_stream_id("r", tmp_path / "x.jsonl", b'{"first": 1}')
    assert a.startswith(f"r:{tmp_path.resolve()}/x.jsonl#") and len(a.rsplit("#", 1)[1]) == 16
    assert a == file_stream_id("r", tmp_path / "x.jsonl", b'{"first": 1}')
    assert a != file_stream_id("r", tmp_path / "x.jsonl", b'{"first": 2}')
