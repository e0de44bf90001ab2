"""Issue 13 item 1: ``run --max-usd`` stops the whole tree under api_key auth, warns under a subscription."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from tests.integration.harness import running_worker
from tests.integration.producers_harness import spendstream, spendstream_async

pytestmark = pytest.mark.integration

BUDGET = Path(__file__).resolve().parents[1] / "fixtures" / "budget"
LINE_USD = Decimal("0.05")


def processes_naming(text: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = next(
                line for line in (proc / "status").read_text().splitlines() if line.startswith("State:")
            )
        except (OSError, StopIteration):
            continue
        if text.encode() in cmdline and "zombie" not in state:
            found.append(int(proc.name))
    return found


def crossing_time(log: Path, limit: Decimal) -> float:
    """When the agents began printing the line that took their sum over ``limit``."""
    lines = [line.split() for line in log.read_text().splitlines()]
    printed = sorted(float(t) for t, name, _pid, _i in lines if name != "orchestrator")
    needed = int(limit / LINE_USD)  # this many lines reach the limit; the next one exceeds it
    return printed[needed]


def orchestrated(log: Path, lines_per_agent: int, *run_options: str) -> list[str]:
    return [
        "run",
        "--quiet",
        *run_options,
        "--",
        sys.executable,
        str(BUDGET / "orchestrator.py"),
        str(log),
        str(lines_per_agent),
    ]


async def test_max_usd_stops_the_whole_tree_under_api_key_auth(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    log = tmp_path / "agents.log"
    async with running_worker(topics):
        proc = await spendstream_async(
            settings,
            *orchestrated(log, 60, "--max-usd", "1.00", "--grace", "2"),
            SPENDSTREAM_AUTH_MODE="api_key",
        )
        ended = time.time()
    stderr = proc.stderr.decode()
    assert proc.returncode == 3, stderr
    stops = [line for line in stderr.splitlines() if "budget exceeded" in line]
    assert len(stops) == 1 and "$1.00" in stops[0], stderr
    latency = ended - crossing_time(log, Decimal("1.00"))
    assert latency < 8.0, f"stopped {latency:.2f}s after the crossing"  # 1.6 s seen on 2 busy cores
    assert processes_naming(str(log)) == []


async def test_max_usd_is_advisory_under_subscription_auth(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    log = tmp_path / "agents.log"
    async with running_worker(topics):
        proc = await spendstream_async(
            settings,
            *orchestrated(log, 15, "--max-usd", "0.50"),
            SPENDSTREAM_AUTH_MODE="subscription",
        )
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    advisory = [line for line in stderr.splitlines() if "advisory" in line]
    assert len(advisory) == 1 and "budget exceeded" not in stderr, stderr
    lines = log.read_text().splitlines()
    printed = sum(1 for line in lines if " orchestrator " not in line)
    assert printed == 30  # every line: $1.50, three times the limit


async def test_a_nested_run_keeps_its_own_tighter_limit(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    log = tmp_path / "agents.log"
    async with running_worker(topics):
        # The orchestrator passes "--max-usd 0.30" to each nested run: each stops its own agent.
        command = [*orchestrated(log, 40, "--max-usd", "5.00"), "--max-usd", "0.30", "--grace", "2"]
        proc = await spendstream_async(settings, *command, SPENDSTREAM_AUTH_MODE="api_key")
    stderr = proc.stderr.decode()
    stops = [line for line in stderr.splitlines() if "budget exceeded" in line]
    assert len(stops) == 2 and all("limit $0.30" in line for line in stops), stderr
    assert proc.returncode == 3  # the orchestrator's status: its runs' 3, passed through
    printed = [line for line in log.read_text().splitlines() if " orchestrator " not in line]
    per_agent = {name: sum(1 for line in printed if line.split()[1] == name) for name in ("a", "b")}
    assert max(per_agent.values()) <= 20, per_agent  # 7 lines cross $0.30; 40 if nothing stopped
    assert processes_naming(str(log)) == []


@pytest.mark.parametrize("fail_closed", [False, True])
def test_without_kafka_the_budget_is_not_enforced_or_the_command_not_started(
    tmp_path: Path, fail_closed: bool
) -> None:
    settings = Settings(
        broker="127.0.0.1:9", state_dir=tmp_path / "state", producer_timeout_seconds=2, runner_id="t"
    )
    marker = tmp_path / "ran"
    command = ["run", "--quiet", "--max-usd", "1", *(["--fail-closed"] if fail_closed else [])]
    done = spendstream(settings, *command, "--", sys.executable, "-c", f"open({str(marker)!r}, 'w')")
    stderr = done.stderr.decode()
    if fail_closed:
        assert done.returncode == 4 and not marker.exists()
        assert "--fail-closed: not starting the command" in stderr
    else:
        assert done.returncode == 0 and marker.exists()
        assert "budget NOT enforced" in stderr
