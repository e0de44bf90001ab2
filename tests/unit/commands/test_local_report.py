"""``report --from``: which files are read, and the progress bar (stderr, only on a terminal)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from spendstream.local_report import ProgressBar, default_sources, source_files


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_and_clears_itself() -> None:
    stream = Terminal()
    bar = ProgressBar(1000, stream, delay=0)
    bar.update(1, 4, 500)
    bar.close()
    text = stream.getvalue()
    assert "[###############...............]  50%  1/4 files" in text
    assert text.endswith("\r\x1b[2K")


def test_progress_bar_is_silent_off_a_terminal_and_on_small_reads() -> None:
    plain = io.StringIO()
    bar = ProgressBar(1000, plain, delay=0)
    bar.update(1, 1, 1000)
    bar.close()
    assert plain.getvalue() == ""
    quick = Terminal()
    bar = ProgressBar(1000, quick, delay=60)  # done before the delay: a small folder
    bar.update(1, 1, 1000)
    bar.close()
    assert quick.getvalue() == ""


def test_default_sources_are_the_cli_folders_that_exist(tmp_path: Path) -> None:
    (tmp_path / ".codex" / "sessions").mkdir(parents=True)
    (tmp_path / ".openclaw" / "agents").mkdir(parents=True)
    env = {"HOME": str(tmp_path)}
    assert default_sources(env) == [
        (tmp_path / ".codex" / "sessions", "codex-json"),
        (tmp_path / ".openclaw" / "agents", "openclaw"),
    ]
    claude = tmp_path / "claude-config"
    (claude / "projects" / "p").mkdir(parents=True)
    (claude / "projects" / "p" / "s.jsonl").write_text("{}\n")
    files = source_files([], {**env, "CLAUDE_CONFIG_DIR": str(claude)})
    assert files == [(claude / "projects" / "p" / "s.jsonl", "claude-transcript")]


def test_source_files_refuse_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        source_files([str(tmp_path / "missing")])
