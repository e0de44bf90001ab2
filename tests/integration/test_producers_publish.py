"""Backfill and content on the real broker: nothing of the fixtures' content is published."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from producers.held import OVERSIZE_TYPE
from tests.integration.producers_harness import FAKE_CLI, as_lines, header, read_all, spendstream_async

pytestmark = pytest.mark.integration

CONTENT = (
    b"Because light attracts bugs",
    b"ULTRATHINK",
    b"The user wants me to read",
    b"Portable, Resumable",
    b"grep -n",
    b"Find drawer width calculations",
    b"echo step1",
    b"codex_patch_test",
    b"hello world",
    b"cctrace",
)


def count_lines(folder: Path) -> int:
    return sum(
        sum(1 for line in path.read_bytes().splitlines() if line.strip())
        for path in folder.rglob("*")
        if path.suffix in (".json", ".jsonl")
    )


async def test_default_settings_publish_no_content_string(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    backfill = await spendstream_async(settings, "publish", str(real_fixtures))
    assert backfill.returncode == 0, backfill.stderr
    expected = count_lines(real_fixtures)
    assert f"published {expected} lines".encode() in backfill.stderr
    stream_json = real_fixtures / "claude-stream-json" / "assistant-with-usage.jsonl"
    codex = real_fixtures / "codex-exec-json" / "multi_command.jsonl"
    fake = [sys.executable, str(FAKE_CLI), "--emit", str(stream_json), "--emit", str(codex)]
    wrapped = await spendstream_async(settings, "run", "--format", "claude-stream-json", "--", *fake)
    assert wrapped.returncode == 0

    records = await read_all(settings, expect_at_least=expected + 1 + 12)
    assert len(records) == expected + 1 + 12
    for record in records:
        blob = record.value + b"".join(v for _, v in record.headers)
        for needle in CONTENT:
            assert needle not in blob, (header(record, "ss-stream"), needle)
    formats = {header(r, "ss-format") for r in records}
    assert formats == {"claude-json", "claude-stream-json", "claude-transcript", "codex-json"}


async def test_publishing_the_same_folder_twice_gives_the_same_stream_positions(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    folder = real_fixtures / "codex-exec-json"
    for _ in range(2):
        assert (await spendstream_async(settings, "publish", "--no-progress", str(folder))).returncode == 0
    records = await read_all(settings, expect_at_least=2 * count_lines(folder))
    keys = [(header(r, "ss-stream"), header(r, "ss-pos")) for r in records]
    assert len(keys) == 2 * len(set(keys))


async def test_oversize_lines_are_shrunk_or_held_never_dropped(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state", "max_record_bytes": 4096})
    big_text = "x" * 20_000
    known = {"type": "result", "session_id": "s1", "result": big_text, "usage": {"input_tokens": 5}}
    (tmp_path / "known.jsonl").write_bytes(orjson.dumps(known) + b"\n")
    (tmp_path / "other.jsonl").write_bytes(orjson.dumps({"blob": big_text}) + b"\n")
    kept = await spendstream_async(
        settings, "publish", "--keep-content", "--format", "claude-json", str(tmp_path / "known.jsonl")
    )
    held = await spendstream_async(
        settings, "publish", "--format", "not-a-known-one", str(tmp_path / "other.jsonl")
    )
    assert kept.returncode == held.returncode == 0
    records = sorted(await read_all(settings, expect_at_least=2), key=lambda r: header(r, "ss-format"))
    shrunk, marker = (orjson.loads(r.value) for r in records)
    assert shrunk["usage"] == {"input_tokens": 5} and shrunk["result"] == ""  # redacted to fit
    assert marker["type"] == OVERSIZE_TYPE and marker["limit"] == 4096
    (held_file,) = (settings.spool_path / "held").glob("*.jsonl")
    entry = orjson.loads(held_file.read_bytes())
    assert entry["value"] == orjson.dumps({"blob": big_text}).decode()
    assert entry["headers"]["ss-pos"] == "1"


async def test_an_unfinished_last_line_is_left_for_later(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    complete = b'{"type":"result","session_id":"s1","usage":{"input_tokens":1}}'
    (tmp_path / "a.jsonl").write_bytes(complete + b"\n" + complete[:30])
    (tmp_path / "b.jsonl").write_bytes(complete + b"\n" + complete)
    proc = await spendstream_async(settings, "publish", "--format", "claude-json", str(tmp_path))
    assert b"1 incomplete last lines skipped" in proc.stderr
    records = await read_all(settings, expect_at_least=3)
    assert sorted(header(r, "ss-pos") for r in records) == ["1", "1", "2"]


async def test_publish_and_watch_belong_to_the_scope_they_run_in(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    folder = tmp_path / "sessions"
    folder.mkdir()
    (folder / "one.jsonl").write_bytes((real_fixtures / "codex-exec-json" / "hello_world.jsonl").read_bytes())
    inherited = {"SPENDSTREAM_SESSION": "run-42", "SPENDSTREAM_LINEAGE": "root-1,parent-7"}
    watched = await spendstream_async(
        settings, "watch", "--once", "--label", "via=watch", str(folder), **inherited
    )
    published = await spendstream_async(
        settings,
        "publish",
        "--lineage",
        "x,y",
        "--session",
        "z",
        "--label",
        "via=publish",
        str(folder),
        **inherited,
    )
    assert watched.returncode == published.returncode == 0
    records = await read_all(settings, expect_at_least=10)
    scopes = {(header(r, "ss-label-via"), header(r, "ss-session"), header(r, "ss-lineage")) for r in records}
    assert scopes == {("watch", "run-42", "root-1,parent-7"), ("publish", "z", "x,y")}
    # The same file through watch and publish: one stream, the same positions.
    assert len({header(r, "ss-stream") for r in records}) == 1


async def test_backfill_packs_lines_and_no_pack_gives_the_same_lines(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    transcript = next((real_fixtures / "claude-transcript").rglob("*.jsonl"))
    lines = [line for line in transcript.read_bytes().splitlines() if line.strip()]
    source = tmp_path / "history.jsonl"
    source.write_bytes(b"\n".join((lines * (1200 // len(lines) + 1))[:1200]) + b"\n")
    packed = await spendstream_async(settings, "publish", "--no-progress", "--pack-lines", "500", str(source))
    single = await spendstream_async(settings, "publish", "--no-progress", "--no-pack", str(source))
    assert packed.returncode == single.returncode == 0, (packed.stderr, single.stderr)
    records = await read_all(settings, expect_at_least=3 + 1200, packed=True)
    packs = [(header(r, "ss-pos"), dict(r.headers).get("ss-lines")) for r in records[:3]]
    assert packs == [("1", b"500"), ("501", b"500"), ("1001", b"200")]
    assert len(records) == 3 + 1200 and all("ss-lines" not in dict(r.headers) for r in records[3:])
    by_run = [
        [(line.key, header(line, "ss-pos"), line.value) for r in part for line in as_lines(r)]
        for part in (records[:3], records[3:])
    ]
    assert by_run[0] == by_run[1]  # the same stream, positions and redacted lines
    assert [int(pos) for _, pos, _ in by_run[0]] == list(range(1, 1201))
