"""Issues 4 + 6: nested `spendstream run`s roll up into the root run's live totals, exactly."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from schemas.rollup import ScopeTotals
from tests.integration.harness import read_topic, running_worker
from tests.integration.producers_harness import FAKE_CLI, SPENDSTREAM, spendstream_async

pytestmark = pytest.mark.integration


def level(fmt: str, fixture: Path, *nested: str) -> list[str]:
    cmd = ["run", "--format", fmt, "--", sys.executable, str(FAKE_CLI), "--emit", str(fixture)]
    return cmd + (["--", *SPENDSTREAM, *nested] if nested else [])


def latest(records: list[Any]) -> dict[str, ScopeTotals]:
    out: dict[str, ScopeTotals] = {}
    for message in records:
        record = ScopeTotals.from_json_dict(orjson.loads(message.value))
        if record.scope not in out or record.version > out[record.scope].version:
            out[record.scope] = record
    return out


async def test_nested_runs_roll_up_into_the_root_run(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    grandchild = level("codex-json", real_fixtures / "codex-exec-json" / "hello_world.jsonl")
    child = level(
        "claude-stream-json", real_fixtures / "claude-stream-json" / "assistant-with-usage.jsonl", *grandchild
    )
    root = level("claude-json", real_fixtures / "claude-json" / "result-success.json", *child)
    async with running_worker(topics):
        proc = await spendstream_async(settings, *root)
        assert proc.returncode == 0
        records = await read_topic(
            topics,
            topics.topic("totals"),
            until=lambda r: any(t.parent_id is None and t.subtree.events == 3 for t in latest(r).values()),
        )
    scopes = latest(records)
    (root_scope,) = [t for t in scopes.values() if t.parent_id is None]
    tokens = root_scope.subtree.tokens
    # claude-json 4/18/3,548 w/11,459 r ($0.0856259 reported) + stream-json subagent 5/250/609/46,428
    # (haiku 4.5, $0.00665905 computed) + codex exec 7,464 in incl. 6,528 cached, 25 out (no model: unpriced).
    assert (tokens.input_tokens, tokens.output_tokens) == (4 + 5 + 936, 18 + 250 + 25)
    assert (tokens.cache_write_5m_tokens, tokens.cache_read_tokens) == (3548 + 609, 11459 + 46428 + 6528)
    assert root_scope.subtree.cost_usd == Decimal("0.09228495")
    assert root_scope.own.cost_usd == Decimal("0.0856259")
    assert root_scope.children == 1
    (child_scope,) = [t for t in scopes.values() if t.parent_id == root_scope.scope]
    assert (
        child_scope.subtree.events == 2 and child_scope.children == 2
    )  # its subagent and the grandchild run
    grand = [t for t in scopes.values() if t.parent_id == child_scope.scope and "/agent-" not in t.scope]
    assert len(grand) == 1 and grand[0].own.tokens.output_tokens == 25
