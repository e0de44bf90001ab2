"""`watch` without a broker: complete lines only, stable positions, restarts, rotation."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.emit import Emitter, Origin
from producers.held import HeldLines
from producers.positions import PositionStore
from producers.records import OutRecord
from producers.shipper import NotDurable
from producers.watch import Watcher, WatchRoot


class FakeShipper:
    def __init__(self, tmp: Path) -> None:
        self.records: list[OutRecord] = []
        self.held = HeldLines(tmp)
        self.fail_flush = False

    async def put(self, record: OutRecord) -> None:
        self.records.append(record)

    async def flush(self) -> None:
        if self.fail_flush:
            raise NotDurable(1, "disk full")

    def published(self) -> list[tuple[str, int]]:
        return [(dict(r.headers)["ss-stream"].decode(), int(dict(r.headers)["ss-pos"])) for r in self.records]


def make_watcher(tmp: Path, folder: Path, shipper: FakeShipper) -> Watcher:
    store = PositionStore(tmp / "state")
    store.load()
    emitter = Emitter(shipper, Origin("runner"), max_record_bytes=10_000)  # type: ignore[arg-type]
    return Watcher(emitter, store, [WatchRoot(folder, "auto")])


def line(n: int) -> bytes:
    return b'{"type":"assistant","sessionId":"s","n":%d,"message":{"content":"secret %d"}}\n' % (n, n)


async def test_only_complete_lines_and_they_keep_their_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "projects"
    folder.mkdir()
    file = folder / "s.jsonl"
    shipper = FakeShipper(tmp_path)
    watcher = make_watcher(tmp_path, folder, shipper)
    file.write_bytes(line(1) + b"\n" + line(3)[:20])  # line 2 blank, line 3 half written
    assert await watcher.poll_once() == 1
    with file.open("ab") as handle:
        handle.write(line(3)[20:] + line(4))
    assert await watcher.poll_once() == 2
    assert [pos for _, pos in shipper.published()] == [1, 3, 4]
    assert all(b"secret" not in r.value for r in shipper.records)
    assert dict(shipper.records[0].headers)["ss-format"] == b"claude-transcript"


async def test_a_restart_continues_where_the_last_save_left(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    (folder / "s" / "subagents").mkdir(parents=True)
    (folder / "s.jsonl").write_bytes(line(1) + line(2))
    shipper = FakeShipper(tmp_path)
    await make_watcher(tmp_path, folder, shipper).poll_once()
    with (folder / "s.jsonl").open("ab") as handle:
        handle.write(line(3))
    (folder / "s" / "subagents" / "agent-a1.jsonl").write_bytes(line(1))
    again = FakeShipper(tmp_path)
    assert await make_watcher(tmp_path, folder, again).poll_once() == 2
    assert sorted(pos for _, pos in again.published()) == [1, 3]
    assert len({stream for stream, _ in again.published()}) == 2


async def test_positions_are_not_saved_when_lines_are_not_durable(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "s.jsonl").write_bytes(line(1))
    shipper = FakeShipper(tmp_path)
    shipper.fail_flush = True
    with pytest.raises(NotDurable):
        await make_watcher(tmp_path, folder, shipper).poll_once()
    again = FakeShipper(tmp_path)
    assert await make_watcher(tmp_path, folder, again).poll_once() == 1  # read again, not lost


async def test_truncated_or_replaced_files_are_new_streams(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    file = folder / "s.jsonl"
    file.write_bytes(line(1) + line(2) + line(3))
    shipper = FakeShipper(tmp_path)
    watcher = make_watcher(tmp_path, folder, shipper)
    await watcher.poll_once()
    first_stream = shipper.published()[0][0]
    file.write_bytes(line(7))  # truncated in place and rewritten
    assert await watcher.poll_once() == 1
    stream, pos = shipper.published()[-1]
    assert pos == 1 and stream != first_stream
    file.write_bytes(line(7) + line(8) + line(9) + line(10))  # same first line, grew: appended
    await watcher.poll_once()
    assert [p for s, p in shipper.published() if s == stream] == [1, 2, 3, 4]


async def test_deleted_files_are_forgotten(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "s.jsonl").write_bytes(line(1))
    watcher = make_watcher(tmp_path, folder, FakeShipper(tmp_path))
    await watcher.poll_once()
    assert watcher.store.paths()
    (folder / "s.jsonl").unlink()
    await watcher.poll_once()
    assert watcher.store.paths() == []
