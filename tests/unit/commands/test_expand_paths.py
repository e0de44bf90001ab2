"""``expand_paths``: every file once, however it is reached (symbolic links, ``..``, given
twice), in the order first given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spendstream.local_parse import expand_paths


def test_each_file_once_however_it_is_reached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real" / "p"
    real.mkdir(parents=True)
    for name in ("a.jsonl", "b.json", "c.txt"):
        (real / name).write_text("{}\n")
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "alias.jsonl").symlink_to(real / "a.jsonl")
    monkeypatch.chdir(real)
    given = [
        str(real),
        str(tmp_path / "linked"),
        str(tmp_path / "alias.jsonl"),
        str(real / ".." / "p" / "b.json"),
        "a.jsonl",
    ]
    files = expand_paths(given)
    assert files == [real / "a.jsonl", real / "b.json"]
    assert [os.path.realpath(f) for f in files] == [str((real / n).resolve()) for n in ("a.jsonl", "b.json")]


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        expand_paths([str(tmp_path / "nope")])
    assert caught.value.filename == str(tmp_path / "nope")
