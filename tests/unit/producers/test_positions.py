"""The watch position store: atomic saves, one watcher per folder, file identity."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from producers.positions import FilePosition, PositionStore, StoreLocked


def test_round_trip_and_forget(tmp_path: Path) -> None:
    store = PositionStore(tmp_path)
    position = FilePosition(1, 2, "r:/a#ff", "claude-transcript", offset=120, line=3)
    store.set("/a", position)
    store.set("/b", FilePosition(1, 3, "r:/b#00", "codex-json", 0, 0))
    store.save()
    again = PositionStore(tmp_path)
    again.load()
    assert again.get("/a") == position and sorted(again.paths()) == ["/a", "/b"]
    again.forget("/b")
    again.save()
    third = PositionStore(tmp_path)
    third.load()
    assert third.paths() == ["/a"]


def test_a_crash_while_saving_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    store = PositionStore(tmp_path)
    store.set("/a", FilePosition(1, 2, "s", "f", 10, 1))
    store.save()
    before = store.path.read_bytes()
    code = (
        "import os; from pathlib import Path; from producers.positions import *;"
        f"s = PositionStore(Path({str(tmp_path)!r})); s.load();"
        "s.set('/a', FilePosition(1, 2, 's', 'f', 99, 9));"
        "os.replace = lambda *a: os._exit(7); s.save()"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[3], check=False)
    assert proc.returncode == 7
    assert store.path.read_bytes() == before


def test_second_watcher_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    one, two = PositionStore(tmp_path), PositionStore(tmp_path)
    one.lock()
    with pytest.raises(StoreLocked):
        two.lock()
    one.unlock()
    two.lock()
    two.unlock()


def test_same_file_means_same_inode_and_not_shorter(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"{}\n{}\n")
    stat = os.stat(path)
    position = FilePosition(stat.st_dev, stat.st_ino, "s", "f", offset=6, line=2)
    assert position.same_file(stat)
    path.write_bytes(b"{}\n")  # truncated in place
    assert not position.same_file(os.stat(path))
    path.unlink()
    path.write_bytes(b"{}\n{}\n{}\n")  # replaced: another inode (usually)
    replaced = os.stat(path)
    assert position.same_file(replaced) == (replaced.st_ino == stat.st_ino)
