"""Issue 13 item 4: ``budget --rules`` emits each reached threshold once, to the alerts topic
and to a webhook, and a restarted service emits none of them again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from config.settings import Settings
from tests.integration.harness import TopicTimeout, has_events, read_topic, running_worker
from tests.integration.producers_harness import SPENDSTREAM, cli_env, free_port, spendstream_async

pytestmark = pytest.mark.integration

RULES = {
    "rules": [
        {"name": "per-task", "match": {"label": "task=*"}, "max_usd": "1.00"},
        {"name": "roots", "match": {"scope": "root-*"}, "max_usd": "0.50", "thresholds": [0.5, 1.0]},
    ]
}
# (session, its root, task, reported cost): published one after the other.
RUNS = [
    ("s1", "root-a", "T1", "0.30"),  # T1 0.30; root-a 0.30 (50 %)
    ("s2", "root-a", "T1", "0.25"),  # T1 0.55 (50 %); root-a 0.55 (100 %)
    ("s3", "root-b", "T2", "0.45"),  # T2 0.45; root-b 0.45 (50 %)
    ("s4", "root-c", "T1", "0.30"),  # T1 0.85 (80 %); root-c 0.30 (50 %)
    ("s5", "other", "T1", "0.20"),  # T1 1.05 (100 %); "other" matches no scope rule
]
EXPECTED = {  # key -> (spent cost, events, crossed_by)
    "roots|root-a|0.5": ("0.300000000000", 1),
    "per-task|T1|0.5": ("0.550000000000", 2),
    "roots|root-a|1.0": ("0.550000000000", 2),
    "roots|root-b|0.5": ("0.450000000000", 1),
    "per-task|T1|0.8": ("0.850000000000", 3),
    "roots|root-c|0.5": ("0.300000000000", 1),
    "per-task|T1|1.0": ("1.050000000000", 4),
}


def claude_result(path: Path, session: str, cost: str) -> Path:
    line = {
        "type": "result",
        "subtype": "success",
        "session_id": session,
        "usage": {"input_tokens": 1000, "output_tokens": 100},
        "total_cost_usd": float(cost),
    }
    path.write_bytes(orjson.dumps(line) + b"\n")
    return path


class Webhook:
    """A local HTTP endpoint that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/alerts"

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.Response(status=204)

    async def __aenter__(self) -> Webhook:
        app = web.Application()
        app.router.add_post("/alerts", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


def start_service(settings: Settings, rules: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*SPENDSTREAM, "budget", "--rules", str(rules), *extra],
            env=cli_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def stop_service(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(proc.wait, 60)


def alerts_by_key(records: list[Any]) -> dict[str, dict[str, Any]]:
    return {r.key.decode(): orjson.loads(r.value) for r in records}


async def test_rules_emit_each_threshold_once_to_the_topic_and_the_webhook(
    topics: Settings, tmp_path: Path
) -> None:
    settings = topics.model_copy(update={"state_dir": tmp_path / "state"})
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps(RULES))
    log = tmp_path / "service.log"
    async with Webhook() as hook, running_worker(topics):
        service = start_service(settings, rules, log, "--webhook", hook.url)
        try:
            for session, root, task, cost in RUNS:
                path = claude_result(tmp_path / f"{session}.json", session, cost)
                args = ("publish", "--lineage", root, "--session", session, "--label", f"task={task}")
                done = await spendstream_async(settings, *args, str(path))
                assert done.returncode == 0, done.stderr.decode()
                # One step at a time, so the spend each alert reports is deterministic.
                await read_topic(topics, topics.topic("totals"), until=has_events({session: 1}))
            records = await read_topic(
                topics, topics.topic("alerts"), until=lambda r: len(r) >= len(EXPECTED), wait_s=60
            )
            for _ in range(100):
                if len(hook.received) >= len(EXPECTED):
                    break
                await asyncio.sleep(0.1)
        finally:
            assert await stop_service(service) == 0, log.read_text()
        alerts = alerts_by_key(records)
        assert len(records) == len(EXPECTED), log.read_text()
        assert {k: (a["spent"]["cost_usd"], a["spent"]["events"]) for k, a in alerts.items()} == EXPECTED
        task_alert = alerts["per-task|T1|0.8"]
        assert task_alert["kind"] == "label" and task_alert["label"] == "task"
        assert task_alert["subject"] == "T1" and task_alert["threshold"] == "0.8"
        assert task_alert["limit"] == {"max_usd": "1.000000000000", "max_tokens": None}
        assert task_alert["crossed_by"] == ["usd"]
        assert task_alert["spent"]["billable_cost_usd"] == "0.850000000000"  # unknown auth: billable
        assert alerts["roots|root-a|1.0"]["kind"] == "scope"
        assert sorted(orjson.dumps(a) for a in hook.received) == sorted(
            orjson.dumps(a) for a in alerts.values()
        )

        # A restart reads the same history and the alerts topic: nothing is emitted again.
        again = await spendstream_async(
            settings, "budget", "--rules", str(rules), "--webhook", hook.url, "--for", "8"
        )
        assert again.returncode == 0, again.stderr.decode()
        assert b"0 new alert(s)" in again.stderr
    assert len(await everything(topics, topics.topic("alerts"))) == len(EXPECTED)
    assert len(hook.received) == len(EXPECTED)


async def everything(settings: Settings, topic: str, quiet_s: float = 5.0) -> list[Any]:
    """Every record of a topic, read for ``quiet_s``."""
    try:
        await read_topic(settings, topic, until=lambda _records: False, wait_s=quiet_s)
    except TopicTimeout as timeout:
        return timeout.records
    raise AssertionError("unreachable")
