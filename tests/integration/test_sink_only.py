"""``spendstream worker --no-sink`` beside ``spendstream worker --sink-only``: the lake gets a
process of its own and is exactly what one worker with its sink would write."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from tests.integration.harness import WorkerProcess, wait_for_query

pytestmark = pytest.mark.integration

SESSION = "145cc619-8afc-49bd-8c24-81ce5bebe88d"


async def test_a_sink_only_process_lands_the_stages_output_exactly(
    topics: Settings, real_fixtures: Path, tmp_path: Path
) -> None:
    fixture = real_fixtures / "claude-json" / "result-success.json"
    stages = WorkerProcess(topics, tmp_path / "stages.log", "--no-restart", "--no-sink")
    lake = WorkerProcess(topics, tmp_path / "lake.log", "--no-restart", "--sink-only")
    stages.start()
    lake.start()
    try:
        await publish(topics, PublishRequest(paths=(str(fixture), str(fixture)), source="claude-json"))
        rows = await wait_for_query(
            topics,
            "SELECT session_id, count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd) "
            "FROM usage GROUP BY session_id",
            until=lambda rows: len(rows) == 1,
        )
        assert lake.alive() and stages.alive()
    finally:
        lake.terminate()
        stages.terminate()
    # The same run published twice (same stream, same position): counted once.
    assert rows == [(SESSION, 1, 4, 18, Decimal("0.085625900000"))]
    assert lake.proc is not None and lake.proc.returncode == 0
