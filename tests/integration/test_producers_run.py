"""`spendstream run` on the real broker: lineage across nested runs, output passed through."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from tests.integration.conftest import REPO
from tests.integration.harness import read_topic
from tests.integration.producers_harness import (
    FAKE_CLI,
    SPENDSTREAM,
    cli_env,
    header,
    read_all,
    spendstream_async,
)

pytestmark = pytest.mark.integration


def level(name: str, fmt: str, fixture: Path, *nested: str, exit_code: int | None = None) -> list[str]:
    cmd = ["run", "--format", fmt, "--label", f"level={name}", "--", sys.executable, str(FAKE_CLI)]
    cmd += ["--emit", str(fixture)]
    if exit_code is not None:
        cmd += ["--exit", str(exit_code)]
    return cmd + (["--", *SPENDSTREAM, *nested] if nested else [])


async def test_nested_runs_yield_root_child_grandchild_lineage(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    stream_json = real_fixtures / "claude-stream-json" / "assistant-with-usage.jsonl"
    codex = real_fixtures / "codex-exec-json" / "hello_world.jsonl"
    result = real_fixtures / "claude-json" / "result-success.json"
    grandchild = level("grandchild", "claude-json", result, exit_code=7)
    child = level("child", "codex-json", codex, *grandchild)
    root = level("root", "claude-stream-json", stream_json, *child)
    proc = await spendstream_async(settings, *root)
    assert proc.returncode == 7  # the innermost exit status came back through every level
    assert proc.stdout == stream_json.read_bytes() + codex.read_bytes() + result.read_bytes()
    assert proc.stderr == b""

    records = await read_all(settings, expect_at_least=7)
    by_level: dict[str, set[tuple[str, str, str]]] = {}
    for record in records:
        scope = (header(record, "ss-session"), header(record, "ss-lineage"), header(record, "ss-stream"))
        by_level.setdefault(header(record, "ss-label-level"), set()).add(scope)
    assert {name: len(scopes) for name, scopes in by_level.items()} == {
        "root": 1,
        "child": 1,
        "grandchild": 1,
    }
    ((root_id, root_lineage, root_stream),) = by_level["root"]
    ((child_id, child_lineage, _),) = by_level["child"]
    ((grand_id, grand_lineage, _),) = by_level["grandchild"]
    assert root_lineage == ""
    assert child_lineage == root_id
    assert grand_lineage == f"{root_id},{child_id}"
    assert len({root_id, child_id, grand_id}) == 3
    assert root_stream == f"test-runner:run:{root_id}"
    # Each line once, by the run that printed it: a parent skips what its children published.
    formats = sorted((header(r, "ss-label-level"), header(r, "ss-format")) for r in records)
    assert formats == [("child", "codex-json")] * 5 + [
        ("grandchild", "claude-json"),
        ("root", "claude-stream-json"),
    ]


async def test_output_stderr_and_status_pass_through_unchanged(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    fixture = real_fixtures / "claude-json" / "result-success.json"
    fake = [sys.executable, str(FAKE_CLI), "--emit", str(fixture), "--stderr", "oops\n", "--exit", "3"]
    proc = await spendstream_async(settings, "run", "--", *fake)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, fixture.read_bytes(), b"oops\n")
    # No format on this command line: the output's first recognisable line decides (issue 12).
    (line,) = await read_all(settings, expect_at_least=1)
    published, original = orjson.loads(line.value), orjson.loads(fixture.read_bytes())
    assert (header(line, "ss-format"), published["usage"]) == ("claude-json", original["usage"])
    assert "format claude-json detected from line 1" in (tmp_path / "state" / "logs" / "run.log").read_text()


def test_a_command_killed_by_a_signal_ends_the_wrapper_the_same_way(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, broker="127.0.0.1:1", producer_timeout_seconds=1.0)
    proc = subprocess.run(
        [
            *SPENDSTREAM,
            "run",
            "--format",
            "claude-json",
            "--",
            sys.executable,
            str(FAKE_CLI),
            "--kill-self",
            "SIGTERM",
        ],
        env=cli_env(settings),
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGTERM


def test_missing_command_is_127_like_a_shell(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, broker="127.0.0.1:1")
    proc = subprocess.run(
        [*SPENDSTREAM, "run", "--", "no-such-command-xyz"],
        env=cli_env(settings),
        cwd=REPO,
        capture_output=True,
    )
    assert proc.returncode == 127 and b"command not found" in proc.stderr


async def test_gemini_document_is_published_as_one_compact_record(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    document = REPO / "tests" / "fixtures" / "gemini" / "two-models.json"
    fake = [sys.executable, str(FAKE_CLI), "--emit", str(document)]
    proc = await spendstream_async(settings, "run", "--format", "gemini-json", "--", *fake)
    assert proc.returncode == 0 and proc.stdout == document.read_bytes()
    (record,) = await read_topic(settings, settings.topic("raw"), until=lambda r: len(r) >= 1)
    value = orjson.loads(record.value)
    assert header(record, "ss-pos") == "1" and b"\n" not in record.value
    assert value["stats"]["models"] == orjson.loads(document.read_bytes())["stats"]["models"]
