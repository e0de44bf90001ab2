"""Issue 13 item 2 (d): the auth mode of each run reaches the lake and the totals, kept apart."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from producers.auth import API_KEY_VARIABLES, CLOUD_SWITCHES
from schemas.rollup import ScopeTotals
from tests.integration.harness import read_topic, running_worker, wait_for_query
from tests.integration.producers_harness import spendstream_async

pytestmark = pytest.mark.integration

AGENT = Path(__file__).resolve().parents[1] / "fixtures" / "budget" / "agent.py"


def _root_record(records: list[object], root: str) -> ScopeTotals | None:
    best: ScopeTotals | None = None
    for message in records:
        if getattr(message, "key", None) != root.encode():
            continue
        record = ScopeTotals.from_json_dict(orjson.loads(message.value))  # type: ignore[attr-defined]
        if best is None or record.version > best.version:
            best = record
    return best


async def test_auth_mode_in_the_lake_and_in_totals(topics: Settings, tmp_path: Path) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    log = tmp_path / "agents.log"
    # No key, no cloud switch, no Claude login in this environment: only what each run declares.
    bare = {name: "" for name in (*API_KEY_VARIABLES, *CLOUD_SWITCHES)} | {"HOME": str(tmp_path)}
    runs = [
        ("a", "2", ["--auth-mode", "api_key"]),
        ("b", "1", ["--auth-mode", "subscription"]),
        ("c", "1", []),
    ]
    async with running_worker(topics):
        for name, lines, options in runs:
            command = ["run", "--lineage", "root", "--format", "claude-json", *options, "--"]
            proc = await spendstream_async(
                settings, *command, sys.executable, str(AGENT), name, str(log), lines, **bare
            )
            assert proc.returncode == 0, proc.stderr.decode()
        rows = await wait_for_query(
            topics,
            "SELECT auth_mode, count(*), sum(cost_usd) FROM usage GROUP BY auth_mode ORDER BY auth_mode",
            until=lambda r: sum(row[1] for row in r) == 4,
        )
        records = await read_topic(
            topics,
            topics.topic("totals"),
            until=lambda r: (found := _root_record(r, "root")) is not None and found.subtree.events == 4,
        )
    assert rows == [
        ("api_key", 2, Decimal("0.10")),
        ("subscription", 1, Decimal("0.05")),
        ("unknown", 1, Decimal("0.05")),
    ]
    root = _root_record(records, "root")
    assert root is not None
    subtree = root.subtree.to_json_dict()
    assert subtree["cost_usd"] == "0.200000000000"
    assert subtree["billable_cost_usd"] == "0.150000000000"  # api_key and unknown
    assert subtree["advisory_cost_usd"] == "0.050000000000"  # subscription
    assert subtree["unknown_auth_cost_usd"] == "0.050000000000"
