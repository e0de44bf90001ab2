"""Packing: consecutive lines of one stream per record, exact positions, limits, redaction per line."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from producers.emit import Emitter, Origin
from producers.held import OVERSIZE_TYPE, HeldLines
from producers.packing import Packer, PackLimits, split_packed
from producers.positions import PositionStore
from producers.publish import PublishSummary, _publish_lines
from producers.records import OutRecord, decode_frames, encode
from producers.redact import redact_line
from producers.spool import Spool, SpoolFull
from producers.watch import Watcher, WatchRoot
from schemas import packing
from schemas.raw import H_LINES, MAX_PACKED_LINES, decode_headers
from spendstream.commands.publish_cmd import add_packing_options, packing_from


class Collect:
    def __init__(self, tmp: Path) -> None:
        self.records: list[OutRecord] = []
        self.held = HeldLines(tmp)
        self.refuse_after: int | None = None

    async def put(self, record: OutRecord) -> None:
        if self.refuse_after is not None and len(self.records) >= self.refuse_after:
            raise SpoolFull("full")
        self.records.append(record)

    async def flush(self) -> None:
        pass

    def lines(self) -> list[tuple[str, int, bytes]]:
        """(stream, position, line) of every line in every record, in record order."""
        out = []
        for record in self.records:
            context = decode_headers(record.headers, key=record.key)
            values = packing.unpack(record.value, record.headers, max_items=MAX_PACKED_LINES)
            out += [(context.stream_id, context.position + i, v) for i, v in enumerate(values)]
        return out


def transcript_line(n: int, text: str = "secret") -> bytes:
    return orjson.dumps(
        {
            "type": "assistant",
            "sessionId": "s",
            "requestId": f"req_{n}",
            "message": {"id": f"msg_{n}", "content": [{"type": "text", "text": f"{text} {n}"}],
                        "usage": {"input_tokens": n, "output_tokens": 2 * n}},
        }
    )  # fmt: skip


def make_emitter(tmp: Path, packing: PackLimits, max_record_bytes: int = 100_000) -> tuple[Emitter, Collect]:
    sink = Collect(tmp)
    origin = Origin("runner", labels={"job": "j"})
    made = Emitter(sink, origin, max_record_bytes=max_record_bytes, packing=packing)  # type: ignore[arg-type]
    return made, sink


def test_packer_closes_on_count_gap_stream_and_bytes() -> None:
    packer = Packer(PackLimits(max_lines=3, max_bytes=20))
    closed = []
    for position in (1, 2, 3, 4, 6):
        closed += packer.offer("f", "a", position, b"xx")
    closed += packer.offer("f", "b", 7, b"yy")
    closed += packer.offer("f", "b", 8, b"z" * 17)  # 2 + 1 + 17 = 20: fits exactly, then full
    closed += packer.offer("f", "b", 9, b"w" * 25)  # larger than the limit: alone
    closed += packer.offer("f", "b", 10, b"v")
    last = packer.take()
    assert last is not None and packer.take() is None
    packs = [(p.stream_id, p.first, len(p.values), p.size) for p in [*closed, last]]
    assert packs == [
        ("a", 1, 3, 8),
        ("a", 4, 1, 2),
        ("a", 6, 1, 2),
        ("b", 7, 2, 20),
        ("b", 9, 1, 25),
        ("b", 10, 1, 1),
    ]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="pack lines"):
        PackLimits(0)
    with pytest.raises(ValueError, match="pack lines"):
        PackLimits(10_001)
    assert not PackLimits(1).enabled and PackLimits(2).enabled


async def test_packed_records_carry_exact_positions_and_redacted_lines(tmp_path: Path) -> None:
    made, sink = make_emitter(tmp_path, PackLimits(max_lines=4))
    originals = {n: transcript_line(n) for n in range(1, 11)}
    for n, line in originals.items():
        await made.emit("claude-transcript", "st", n, line)
    await made.flush_pack()
    assert [r.lines for r in sink.records] == [4, 4, 2]
    assert [int(dict(r.headers)["ss-pos"]) for r in sink.records] == [1, 5, 9]
    assert sink.lines() == [
        ("st", n, redact_line(line, "claude-transcript").value) for n, line in originals.items()
    ]
    assert all(b"secret" not in r.value for r in sink.records)
    names = [name for name, _ in sink.records[0].headers]
    assert names[-2:] == ["ss-label-job", H_LINES]
    assert made.stats.lines == 10 and made.stats.records == 3


async def test_pack_values_stay_within_the_byte_limit(tmp_path: Path) -> None:
    made, sink = make_emitter(tmp_path, PackLimits(max_lines=500, max_bytes=1000))
    for n in range(1, 201):
        await made.emit("claude-transcript", "st", n, transcript_line(n))
    await made.flush_pack()
    assert all(len(r.value) <= 1000 for r in sink.records)
    assert len(sink.records) > 1
    assert [pos for _, pos, _ in sink.lines()] == list(range(1, 201))


async def test_pack_bytes_never_exceed_max_record_bytes(tmp_path: Path) -> None:
    made, sink = make_emitter(tmp_path, PackLimits(max_lines=500, max_bytes=1 << 20), max_record_bytes=2048)
    for n in range(1, 101):
        await made.emit("claude-transcript", "st", n, transcript_line(n))
    await made.flush_pack()
    assert all(len(r.value) <= 2048 for r in sink.records)


async def test_an_oversize_line_is_held_and_its_marker_keeps_its_place(tmp_path: Path) -> None:
    made, sink = make_emitter(tmp_path, PackLimits(max_lines=10), max_record_bytes=2048)
    big = orjson.dumps({"blob": "y" * 5000})
    await made.emit("claude-transcript", "st", 1, transcript_line(1))
    await made.emit("someone-elses", "st", 2, big)
    await made.emit("claude-transcript", "st", 3, transcript_line(3))
    await made.flush_pack()
    lines = sink.lines()
    assert [pos for _, pos, _ in lines] == [1, 2, 3]
    assert orjson.loads(lines[1][2])["type"] == OVERSIZE_TYPE
    (held,) = (tmp_path / "held").glob("*.jsonl")
    entry = orjson.loads(held.read_bytes())
    assert entry["value"] == big.decode() and entry["headers"]["ss-pos"] == "2"
    assert "ss-lines" not in entry["headers"]


async def test_no_packing_is_one_line_per_record_without_the_header(tmp_path: Path) -> None:
    made, sink = make_emitter(tmp_path, PackLimits(1))
    for n in (1, 2, 3):
        await made.emit("claude-transcript", "st", n, transcript_line(n))
    await made.flush_pack()
    assert len(sink.records) == 3
    assert all(H_LINES not in dict(r.headers) for r in sink.records)


async def test_a_refused_pack_splits_into_the_records_single_lines_would_be(tmp_path: Path) -> None:
    packed, packed_sink = make_emitter(tmp_path, PackLimits(max_lines=50))
    single, single_sink = make_emitter(tmp_path, PackLimits(1))
    for made in (packed, single):
        for n in range(3, 9):
            await made.emit("claude-transcript", "st", n, transcript_line(n))
        await made.flush_pack()
    (record,) = packed_sink.records
    split = split_packed(record)

    def without_time(r: OutRecord) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        return r.key, r.value, [h for h in r.headers if h[0] != "ss-ts"]

    assert [without_time(r) for r in split] == [without_time(r) for r in single_sink.records]
    assert all(r.lines == 1 for r in split)


def test_spooled_packs_come_back_whole(tmp_path: Path) -> None:
    record = OutRecord(b"st", b"a\nb\nc", (("ss-pos", b"7"), ("ss-lines", b"3")))
    ((back, _),), used = decode_frames(encode(record))
    assert back == record and back.lines == 3 and used == len(encode(record))
    spool = Spool(tmp_path, "t.raw", max_bytes=1 << 20, segment_bytes=1 << 16)
    spool.append([record, OutRecord(b"st", b"d", (("ss-pos", b"10"),))])
    chunk = spool.read_chunk()
    assert chunk is not None and [r.lines for r in chunk.records] == [3, 1]
    assert chunk.records[0].value == b"a\nb\nc"
    spool.close()


async def test_publish_packs_around_blank_and_incomplete_lines(tmp_path: Path) -> None:
    file = tmp_path / "s.jsonl"
    lines = [transcript_line(n) for n in range(1, 8)]
    file.write_bytes(b"\n".join([*lines[:3], b"", *lines[4:]]) + b"\n" + b'{"type":"ass')
    made, sink = make_emitter(tmp_path, PackLimits(max_lines=500))
    with file.open("rb") as handle:
        await _publish_lines(made, handle, str(file), "auto", PublishSummary(), lambda: None)
    assert [(r.lines, int(dict(r.headers)["ss-pos"])) for r in sink.records] == [(3, 1), (3, 5)]
    assert [pos for _, pos, _ in sink.lines()] == [1, 2, 3, 5, 6, 7]


async def test_republishing_gives_the_same_records(tmp_path: Path) -> None:
    file = tmp_path / "s.jsonl"
    file.write_bytes(b"".join(transcript_line(n) + b"\n" for n in range(1, 1200)))
    runs = []
    for _ in range(2):
        made, sink = make_emitter(tmp_path, PackLimits(max_lines=500, max_bytes=64 * 1024))
        with file.open("rb") as handle:
            await _publish_lines(made, handle, str(file), "auto", PublishSummary(), lambda: None)
        runs.append([(r.key, r.value, r.lines, dict(r.headers)["ss-pos"]) for r in sink.records])
    assert runs[0] == runs[1] and sum(r[2] for r in runs[0]) == 1199


async def test_watch_packs_a_backlog_and_drops_an_unaccepted_pack(tmp_path: Path) -> None:
    folder = tmp_path / "projects"
    folder.mkdir()
    (folder / "s.jsonl").write_bytes(b"".join(transcript_line(n) + b"\n" for n in range(1, 26)))
    made, sink = make_emitter(tmp_path, PackLimits(max_lines=10))
    store = PositionStore(tmp_path / "state")
    store.load()
    watcher = Watcher(made, store, [WatchRoot(folder, "auto")])
    sink.refuse_after = 1
    with pytest.raises(SpoolFull):
        await watcher.poll_once()
    assert [r.lines for r in sink.records] == [10]  # lines 11..20 were refused, 21..25 not sent
    sink.refuse_after = None
    assert await watcher.poll_once() == 25  # read again from the saved position (none yet)
    assert [(r.lines, int(dict(r.headers)["ss-pos"])) for r in sink.records] == [
        (10, 1),
        (10, 1),
        (10, 11),
        (5, 21),
    ]
    with (folder / "s.jsonl").open("ab") as handle:
        handle.write(transcript_line(26) + b"\n")
    assert await watcher.poll_once() == 1
    assert sink.records[-1].lines == 1 and H_LINES not in dict(sink.records[-1].headers)


def test_options_and_settings_choose_the_limits() -> None:
    parser = argparse.ArgumentParser()
    add_packing_options(parser)
    settings = Settings(pack_max_lines=300, pack_max_bytes=4096)
    assert packing_from(parser.parse_args([]), settings) == PackLimits(300, 4096)
    assert packing_from(parser.parse_args(["--pack-lines", "20"]), settings) == PackLimits(20, 4096)
    assert packing_from(parser.parse_args(["--no-pack", "--pack-lines", "20"]), settings).max_lines == 1
    assert not packing_from(parser.parse_args(["--pack-lines", "1"]), settings).enabled
    assert Settings().pack_max_lines == 500 and Settings().pack_max_bytes == 512 * 1024
