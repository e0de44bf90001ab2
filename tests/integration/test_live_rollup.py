"""Issue 4: live subtree rollup while the tree runs, the budget trip, and GET /totals."""

from __future__ import annotations

import asyncio
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from schemas.rollup import ScopeTotals
from spendstream.budget import watch_budget
from tests.integration.harness import read_topic, running_worker
from tests.integration.workload import result_line

pytestmark = pytest.mark.integration

ROOT, CHILD, GRANDCHILD = "live-root", "live-root/agent-a", "live-root/agent-a/agent-b"
LINEAGES = {ROOT: (), CHILD: (ROOT,), GRANDCHILD: (ROOT, CHILD)}
# The root starts, its child starts, the grandchild publishes while both still run.
SCHEDULE = [ROOT, CHILD, GRANDCHILD, GRANDCHILD, ROOT, CHILD, GRANDCHILD, ROOT, GRANDCHILD, CHILD]


def _get_json(port: int, scope: str) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/totals/{urllib.parse.quote(scope, safe='')}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body: dict[str, object] = orjson.loads(response.read())
        return body


async def test_root_subtree_equals_descendants_after_every_event(topics: Settings, tmp_path: Path) -> None:
    import random

    rng = random.Random(5)
    lines = []
    for n, scope in enumerate(SCHEDULE):
        line, _tokens, cost = result_line(scope, f"{scope}-{n}", rng)
        lines.append((scope, line, cost))
    total = sum((cost for _, _, cost in lines), Decimal(0))
    limit = total / 2

    async with running_worker(topics):
        budget = asyncio.ensure_future(watch_budget(topics, ROOT, limit, follow_seconds=90))
        for n, (scope, line, _) in enumerate(lines):
            path = tmp_path / f"{n}.jsonl"
            path.write_bytes(line + b"\n")
            await publish(topics, PublishRequest((str(path),), "claude-json", lineage=LINEAGES[scope]))
            await asyncio.sleep(0.05)
        verdict = await budget
        # The rollup applies a tree's deltas in the order of the usage topic (key: root).
        usage = await read_topic(
            topics,
            topics.topic("usage"),
            until=lambda r: sum(1 for m in r if m.key == ROOT.encode()) >= len(lines),
        )

        def root_done(records: list[object]) -> bool:
            versions = [orjson.loads(m.value)["version"] for m in records if m.key == ROOT.encode()]  # type: ignore[attr-defined]
            return len(lines) in versions

        totals = await read_topic(topics, topics.topic("totals"), until=root_done)
        latest_http = await asyncio.to_thread(_get_json, topics.web_port, ROOT)
        grandchild_http = await asyncio.to_thread(_get_json, topics.web_port, GRANDCHILD)

    root_versions = [
        ScopeTotals.from_json_dict(orjson.loads(m.value)) for m in totals if m.key == ROOT.encode()
    ]
    cumulative, running = [], Decimal(0)
    for message in usage:
        if message.key == ROOT.encode():
            running += Decimal(orjson.loads(message.value)["cost_usd"])
            cumulative.append(running)
    assert running == total
    # The rollup sends each scope's record once per batch: versions only grow, may skip
    # (events of one batch), and each record is exact: version v holds the first v events.
    versions = [r.version for r in root_versions]
    assert versions == sorted(set(versions)) and versions[-1] == len(lines)
    assert [r.subtree.cost_usd for r in root_versions] == [cumulative[v - 1] for v in versions]
    trip = next(k for k, value in enumerate(cumulative) if value > limit)
    assert root_versions[-1].own.events == SCHEDULE.count(ROOT)
    assert root_versions[-1].subtree.events == len(lines)
    assert root_versions[-1].children == 1
    # The budget trips on the first record past the limit, which covers the tripping event.
    first_over = next(r for r in root_versions if r.subtree.cost_usd > limit)
    assert verdict.exceeded
    assert verdict.record is not None and verdict.record.version == first_over.version
    assert verdict.record.version >= trip + 1
    assert verdict.record.subtree.cost_usd == cumulative[verdict.record.version - 1]
    assert latest_http == root_versions[-1].to_json_dict()
    assert grandchild_http["parent_id"] == CHILD
    assert grandchild_http["own"] == grandchild_http["subtree"]


async def test_budget_within_limit_exits_clean(topics: Settings) -> None:
    verdict = await watch_budget(topics, "nobody", Decimal("1"), follow_seconds=1.0)
    assert not verdict.exceeded and verdict.record is None
