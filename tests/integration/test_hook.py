"""Issue 13 item 3 (test c): ``spendstream hook`` on the hook input shapes of Claude Code's
hooks reference: PreToolUse blocks (exit 2) a session over its limit and is silent under
it; PostToolUse/Stop/SubagentStop publish every transcript line exactly once."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from producers.worker_totals import fetch_scope_totals
from tests.integration.conftest import REPO
from tests.integration.harness import running_worker
from tests.integration.producers_harness import SPENDSTREAM, cli_env, header, read_all

pytestmark = pytest.mark.integration

SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"


def hook(
    settings: Settings, payload: dict[str, Any], *args: str, **extra: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SPENDSTREAM, "hook", *args],
        input=orjson.dumps(payload),
        env=cli_env(settings, **extra),
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )


def event(name: str, transcript: Path, **fields: Any) -> dict[str, Any]:
    """The common input fields of every hook event, then the event's own."""
    return {
        "session_id": SESSION,
        "transcript_path": str(transcript),
        "cwd": str(transcript.parent),
        "permission_mode": "default",
        "hook_event_name": name,
        **fields,
    }


def post_tool_use(transcript: Path) -> dict[str, Any]:
    return event(
        "PostToolUse",
        transcript,
        tool_name="Write",
        tool_input={"file_path": "/tmp/x.txt", "content": "hi"},
        tool_response={"filePath": "/tmp/x.txt", "success": True},
        tool_use_id="toolu_01ABC123",
    )


def pre_tool_use(transcript: Path) -> dict[str, Any]:
    return event(
        "PreToolUse",
        transcript,
        tool_name="Bash",
        tool_input={"command": "ls", "description": "List files"},
        tool_use_id="toolu_01DEF456",
    )


def subagent_lines(lines: list[bytes]) -> list[bytes]:
    """Assistant lines of the fixture turned into a subagent's (own message and request ids)."""
    out = []
    for line in lines:
        obj = orjson.loads(line)
        if obj.get("type") != "assistant":
            continue
        obj.update(isSidechain=True, agentId="a1b2c3")
        obj["message"]["id"] = "sub-" + str(obj["message"].get("id"))
        obj["requestId"] = "sub-" + str(obj.get("requestId"))
        out.append(orjson.dumps(obj))
        if len(out) == 5:
            break
    return out


async def test_hooks_publish_each_line_once_and_block_over_the_limit(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    lines = (real_fixtures / "claude-transcript" / f"{SESSION}.jsonl").read_bytes().splitlines(keepends=True)
    project = tmp_path / "projects" / "-work-demo"
    project.mkdir(parents=True)
    transcript = project / f"{SESSION}.jsonl"
    subagent = project / SESSION / "subagents" / "agent-a1b2c3.jsonl"
    chunks = [lines[:100], lines[100:300], lines[300:]]
    for number, chunk in enumerate(chunks):
        with transcript.open("ab") as handle:
            handle.writelines(chunk)
        if number == 1:
            subagent.parent.mkdir(parents=True)
            subagent.write_bytes(b"".join(line + b"\n" for line in subagent_lines(lines)))
        for _ in range(2):  # called again with nothing new: publishes nothing
            done = await asyncio.to_thread(hook, settings, post_tool_use(transcript))
            assert (done.returncode, done.stdout, done.stderr) == (0, b"", b""), done.stderr
    for name, extra in (
        ("Stop", {}),
        ("SubagentStop", {"agent_id": "a1b2c3", "agent_transcript_path": str(subagent)}),
    ):
        done = await asyncio.to_thread(
            hook, settings, event(name, transcript, stop_hook_active=False, **extra)
        )
        assert done.returncode == 0, done.stderr

    published = await read_all(settings, expect_at_least=len(lines) + 5)
    by_stream = Counter((header(r, "ss-stream"), header(r, "ss-pos")) for r in published)
    assert set(by_stream.values()) == {1}  # every (stream, line) exactly once
    per_file = Counter(stream.split("#")[0].rsplit("/", 1)[-1] for stream, _ in by_stream)
    assert per_file == {f"{SESSION}.jsonl": len([x for x in lines if x.strip()]), "agent-a1b2c3.jsonl": 5}

    async with running_worker(topics):
        for _ in range(240):
            record = await asyncio.to_thread(fetch_scope_totals, settings.worker_base_url, SESSION, 5.0)
            if record is not None and record.subtree.cost_usd > 10:
                break
            await asyncio.sleep(0.25)
        assert record is not None and record.children == 1  # the subagent
        over = await asyncio.to_thread(hook, settings, pre_tool_use(transcript), "--max-usd", "5")
        under = await asyncio.to_thread(hook, settings, pre_tool_use(transcript), "--max-usd", "1000")
    assert over.returncode == 2
    assert b"budget exceeded" in over.stderr and SESSION.encode() in over.stderr and b"$5" in over.stderr
    assert (under.returncode, under.stdout, under.stderr) == (0, b"", b"")


@pytest.mark.parametrize(("on_error", "status"), [(None, 1), ("allow", 1), ("deny", 2)])
def test_a_failing_hook_says_so_and_exits_as_told(
    settings: Settings, tmp_path: Path, on_error: str | None, status: int
) -> None:
    """No worker at the URL: never silent; allow is a non-blocking error, deny blocks."""
    options = ["--max-usd", "1"] + (["--on-error", on_error] if on_error else [])
    done = hook(
        settings,
        pre_tool_use(tmp_path / "t.jsonl"),
        *options,
        SPENDSTREAM_WORKER_URL="http://127.0.0.1:9",
    )
    assert done.returncode == status
    stderr = done.stderr.decode().splitlines()
    assert (
        len(stderr) == 1
        and "PreToolUse failed" in stderr[0]
        and ("allowed" if status == 1 else "denied") in stderr[0]
    )


def test_bad_hook_input_is_not_silent(settings: Settings) -> None:
    done = subprocess.run(
        [*SPENDSTREAM, "hook", "--on-error", "deny"],
        input=b"not json",
        env=cli_env(settings),
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and b"bad hook input" in done.stderr


async def test_a_hook_without_broker_spools_says_so_and_a_later_hook_sends(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    state = tmp_path / "state"
    down = topics.model_copy(
        update={"state_dir": state, "broker": "127.0.0.1:9", "producer_timeout_seconds": 1}
    )
    transcript = tmp_path / f"{SESSION}.jsonl"
    lines = (
        (real_fixtures / "claude-transcript" / f"{SESSION}.jsonl").read_bytes().splitlines(keepends=True)[:50]
    )
    transcript.write_bytes(b"".join(lines))
    done = await asyncio.to_thread(hook, down, post_tool_use(transcript))
    stderr = done.stderr.decode().splitlines()
    assert done.returncode == 1 and len(stderr) == 1, stderr
    assert "PostToolUse failed: broker unreachable" in stderr[0] and "spool" in stderr[0]
    up = topics.model_copy(update={"state_dir": state})
    done = await asyncio.to_thread(hook, up, event("Stop", transcript, stop_hook_active=False))
    assert (done.returncode, done.stderr) == (0, b"")
    published = await read_all(up, expect_at_least=len(lines))
    positions = Counter(header(r, "ss-pos") for r in published)
    assert len(positions) == len(lines) and set(positions.values()) == {1}


def test_a_publishing_failure_never_blocks_a_stop(settings: Settings, tmp_path: Path) -> None:
    """Exit 2 on Stop would make Claude keep working: a failure there is exit 1, even with deny."""
    transcript = tmp_path / f"{SESSION}.jsonl"
    transcript.write_bytes(b'{"type":"user"}\n')
    down = settings.model_copy(update={"state_dir": tmp_path / "state", "broker": "127.0.0.1:9"})
    done = hook(
        down.model_copy(update={"producer_timeout_seconds": 1}),
        event("Stop", transcript, stop_hook_active=False),
        "--on-error",
        "deny",
    )
    assert done.returncode == 1 and b"Stop failed: broker unreachable" in done.stderr
