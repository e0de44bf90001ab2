"""``spendstream hook``: its input (Claude Code's hook shapes), whose budget, which files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from producers.hook import HookInputError, budget_scope, publish_scope, read_hook_input, transcript_roots
from producers.lineage import Scope


def test_reads_the_common_fields_and_ignores_the_tools() -> None:
    hook = read_hook_input(
        orjson.dumps(
            {
                "session_id": "abc123",
                "transcript_path": "/p/abc123.jsonl",
                "cwd": "/p",
                "permission_mode": "default",
                "hook_event_name": "PreToolUse",
                "tool_name": "Bash",
                "tool_input": {"command": "rm -rf /"},
                "tool_use_id": "toolu_01ABC123",
            }
        )
    )
    assert (hook.event, hook.session_id, hook.transcript_path) == (
        "PreToolUse",
        "abc123",
        Path("/p/abc123.jsonl"),
    )


@pytest.mark.parametrize("data", [b"", b"[]", b'{"session_id": "s"}', b'{"hook_event_name": "Stop"}'])
def test_refuses_what_claude_code_does_not_send(data: bytes) -> None:
    with pytest.raises(HookInputError):
        read_hook_input(data)


def test_the_budget_is_the_sessions_or_the_enclosing_run_trees() -> None:
    hook = read_hook_input(b'{"session_id": "s", "hook_event_name": "PreToolUse"}')
    assert budget_scope(hook, {}) == "s"
    assert budget_scope(hook, {"SPENDSTREAM_SESSION": "run-2", "SPENDSTREAM_LINEAGE": "root,run-1"}) == "root"
    assert budget_scope(hook, {"SPENDSTREAM_SESSION": "run-1", "SPENDSTREAM_LINEAGE": ""}) == "run-1"
    assert publish_scope({}) == Scope(None)
    assert publish_scope({"SPENDSTREAM_SESSION": "run-2", "SPENDSTREAM_LINEAGE": "root"}) == Scope(
        "run-2", ("root",)
    )


def test_publishes_the_session_file_and_its_subagents(tmp_path: Path) -> None:
    transcript = tmp_path / "s.jsonl"
    transcript.write_text("{}\n")
    hook = read_hook_input(
        orjson.dumps({"session_id": "s", "hook_event_name": "Stop", "transcript_path": str(transcript)})
    )
    assert [root.path for root in transcript_roots(hook)] == [transcript]
    (tmp_path / "s" / "subagents").mkdir(parents=True)
    assert [root.path for root in transcript_roots(hook)] == [transcript, tmp_path / "s" / "subagents"]
