"""Format detection from command lines, paths and first lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.formats import (
    default_watch_roots,
    detect_command_format,
    detect_file_format,
    detect_line_format,
    detect_output_format,
    detect_path_format,
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["claude", "-p", "hi", "--output-format", "json"], "claude-json"),
        (
            ["/usr/local/bin/claude", "-p", "hi", "--output-format=stream-json", "--verbose"],
            "claude-stream-json",
        ),
        (["claude", "-p", "hi"], None),
        (["npx", "@anthropic-ai/claude-code", "-p", "x", "--output-format", "json"], "claude-json"),
        (["codex", "exec", "--json", "do it"], "codex-json"),
        (["codex", "exec", "do it"], None),
        (["codex", "--json"], None),
        (["gemini", "-p", "x", "--output-format", "json"], "gemini-json"),
        (["gemini", "-p", "x", "-o", "json"], "gemini-json"),
        (["bash", "-c", "claude -p 'a b' --output-format json"], "claude-json"),
        (["python", "fake_cli.py"], None),
        ([], None),
    ],
)
def test_command_lines(argv: list[str], expected: str | None) -> None:
    assert detect_command_format(argv) == expected


def test_paths() -> None:
    assert detect_path_format("/home/u/.claude/projects/-x/abc.jsonl") == "claude-transcript"
    assert (
        detect_path_format("/home/u/.claude/projects/-x/abc/subagents/agent-1.jsonl") == "claude-transcript"
    )
    assert detect_path_format("/home/u/.codex/sessions/2026/01/02/rollout-x.jsonl") == "codex-json"
    assert detect_path_format("/tmp/out.jsonl") is None


def test_first_lines_of_the_real_captures(real_fixtures: Path) -> None:
    expected = {
        "claude-json": "claude-json",
        "claude-stream-json": "claude-stream-json",
        "claude-transcript": "claude-transcript",
        "codex-exec-json": "codex-json",
    }
    for folder, fmt in expected.items():
        for path in (real_fixtures / folder).iterdir():
            first = path.read_bytes().split(b"\n", 1)[0]
            assert detect_line_format(first) == fmt, path
            assert detect_file_format(str(path), first) == fmt


def test_unknown_and_explicit() -> None:
    assert detect_line_format(b'{"hello": 1}') is None
    assert detect_line_format(b"not json") is None
    assert detect_file_format("/tmp/x.jsonl", b'{"hello": 1}') == "auto"
    assert detect_file_format("/home/u/.claude/projects/a.jsonl", b"{}", "codex-json") == "codex-json"


def test_default_roots_follow_the_clis_environment_variables() -> None:
    roots = default_watch_roots({"HOME": "/h"})
    assert ("/h/.claude/projects", "claude-transcript") in roots
    assert ("/h/.codex/sessions", "codex-json") in roots
    custom = default_watch_roots({"HOME": "/h", "CLAUDE_CONFIG_DIR": "/c1,/c2", "CODEX_HOME": "/cx"})
    assert custom == [
        ("/c1/projects", "claude-transcript"),
        ("/c2/projects", "claude-transcript"),
        ("/cx/sessions", "codex-json"),
    ]


def test_a_file_is_classified_by_its_first_recognisable_line(tmp_path: Path) -> None:
    openclaw = Path(__file__).resolve().parents[2] / "fixtures" / "openclaw"
    for path in openclaw.glob("*.jsonl"):
        assert detect_file_format(str(path), path.read_bytes().split(b"\n", 1)[0]) == "openclaw"
    log = tmp_path / "mixed.jsonl"
    log.write_bytes(b'{"note":1}\nnot json\n{"type":"thread.started","thread_id":"t"}\n')
    assert detect_file_format(str(log), b'{"note":1}') == "codex-json"
    assert detect_file_format(str(tmp_path / "gone.jsonl"), b'{"note":1}') == "auto"
    assert detect_file_format("-", b'{"note":1}') == "auto"


def test_a_run_output_is_classified_by_its_first_recognisable_line(real_fixtures: Path) -> None:
    result = (real_fixtures / "claude-json" / "result-success.json").read_bytes().strip()
    codex = b'{"type":"thread.started","thread_id":"t"}'
    before = [b"starting agent.sh ...", b"", b'{"note": 1}', b"[1, 2]", b"{not json"]
    assert detect_output_format([*before, result, codex]) == (len(before), "claude-json")
    assert detect_output_format([*before, b"  " + codex + b"\r", result]) == (len(before), "codex-json")
    assert detect_output_format(before) is None
    assert detect_output_format([]) is None
