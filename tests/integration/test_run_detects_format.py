"""Issue 12 item 5 (test e): `spendstream run -- ./wrapper.sh`, a script that calls the agent CLI
inside, publishes what the CLI printed (format from the output) or says why it did not."""

from __future__ import annotations

import asyncio
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from tests.integration.conftest import REPO
from tests.integration.harness import read_topic, running_worker
from tests.integration.producers_harness import SPENDSTREAM, cli_env, header, read_all
from tests.integration.test_run_tree_totals import latest

pytestmark = pytest.mark.integration

BANNER = b"wrapper.sh: asking claude\n"
TRAILER = b"wrapper.sh: done\n"


def wrapper(folder: Path, body: str, exit_code: int = 0) -> None:
    """``folder/wrapper.sh``: a script whose command line names no format."""
    script = folder / "wrapper.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '{BANNER.decode().rstrip()}\\n'\n"
        f"{body}\n"
        f"printf '{TRAILER.decode().rstrip()}\\n'\n"
        f"exit {exit_code}\n"
    )
    script.chmod(0o755)


def run_wrapper(settings: Settings, folder: Path, *options: str) -> subprocess.CompletedProcess[bytes]:
    """``spendstream run [options] -- ./wrapper.sh`` typed in ``folder``."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [*SPENDSTREAM, "run", *options, "--", "./wrapper.sh"],
        env=cli_env(settings, PYTHONPATH=path),
        cwd=folder,
        capture_output=True,
        timeout=120,
        check=False,
    )


async def test_a_script_calling_claude_json_inside_is_published_with_exact_totals(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    result = real_fixtures / "claude-json" / "result-success.json"
    wrapper(tmp_path, f"cat '{result}'\necho", exit_code=5)
    async with running_worker(topics):
        proc = await asyncio.to_thread(run_wrapper, settings, tmp_path)
        assert proc.returncode == 5  # the script's exit status
        assert proc.stdout == BANNER + result.read_bytes() + b"\n" + TRAILER  # byte for byte
        assert proc.stderr == b""
        totals = await read_topic(
            topics,
            topics.topic("totals"),
            until=lambda r: any(t.parent_id is None and t.subtree.events == 1 for t in latest(r).values()),
        )
    (line,) = await read_all(settings, expect_at_least=1)  # the banners are not usage
    assert (header(line, "ss-format"), header(line, "ss-pos")) == ("claude-json", "2")
    (root,) = [t for t in latest(totals).values() if t.parent_id is None]
    tokens = root.subtree.tokens
    assert (tokens.input_tokens, tokens.output_tokens) == (4, 18)
    assert (tokens.cache_write_5m_tokens, tokens.cache_write_1h_tokens, tokens.cache_read_tokens) == (
        3_548,
        0,
        11_459,
    )
    assert root.subtree.cost_usd == Decimal("0.0856259")


def test_a_script_printing_no_usage_says_so_once_unless_quiet(tmp_path: Path) -> None:
    # Nothing recognisable is never published, so no broker is needed (none listens on port 1).
    settings = Settings(state_dir=tmp_path / "state", broker="127.0.0.1:1", producer_timeout_seconds=1.0)
    wrapper(tmp_path, "echo '{\"note\": 1}'\necho 'oops' >&2", exit_code=3)
    proc = run_wrapper(settings, tmp_path)
    assert (proc.returncode, proc.stdout) == (3, BANNER + b'{"note": 1}\n' + TRAILER)
    assert proc.stderr == (
        b"oops\nspendstream run: no usage lines recognised in the output of ./wrapper.sh; pass --format\n"
    )
    quiet = run_wrapper(settings, tmp_path, "--quiet")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (3, proc.stdout, b"oops\n")
