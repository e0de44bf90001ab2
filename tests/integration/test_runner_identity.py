"""Done-when (e), on the real broker: a runner that publishes under another runner's id is
dead-lettered with a reason, and the honest runner's usage is exact in totals and the lake.

The worker holds the fleet secret; runner ``r-1`` holds only its derived key (as
``spendstream runner-key`` provisions it). The forged records claim runner ``r-2`` and put
their usage under the honest runner's root (lineage), so, were they accepted, the honest
root's subtree totals would grow.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from config.kafka import client_options
from config.settings import Settings
from producers.publish import PublishRequest, publish
from schemas.deadletter import H_REASON
from schemas.raw import encode_record
from schemas.signing import derive_runner_key, signed_headers
from schemas.sources.base import LineContext
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.harness import read_topic
from tests.integration.producers_harness import spendstream
from tests.integration.workload import Workload, build_workload
from tests.reliability.faults import on_free_port, wait_for_metrics, worker_log_on_failure, worker_process

pytestmark = pytest.mark.integration

FLEET_SECRET = "fleet-secret-for-the-identity-test-0123456789"


async def publish_runs(
    settings: Settings, workload: Workload, folder: Path, lineage_root: str | None = None
) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    lines = 0
    for index, run in enumerate(workload.runs):
        path = folder / f"run-{index}.jsonl"
        path.write_bytes(b"\n".join(run.lines) + b"\n")
        lineage = (lineage_root, *run.lineage) if lineage_root else run.lineage
        request = PublishRequest(paths=(str(path),), source="claude-json", lineage=lineage)
        lines += (await publish(settings, request)).lines
    return lines


async def publish_in_foreign_stream(settings: Settings, runner_key: bytes, line: bytes) -> None:
    """r-1 signs honestly but names r-2's stream (it would move r-2's stream positions)."""
    context = LineContext("claude-json", "r-1", "r-2:/home/r2/out.jsonl#0", 1, datetime.now(UTC))
    key, value, headers = encode_record(context, [line])
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        headers = signed_headers(runner_key, key, value, headers)
        await producer.send_and_wait(settings.topic("raw"), value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_records_under_another_runners_id_are_dead_lettered(topics: Settings, tmp_path: Path) -> None:
    worker_settings = on_free_port(topics.model_copy(update={"runner_secret": SecretStr(FLEET_SECRET)}))
    # Provisioning as an operator would: the runner gets its derived key, never the fleet secret.
    key_file = tmp_path / "r-1.key"
    made = spendstream(worker_settings, "runner-key", "r-1", "--out", str(key_file))
    assert made.returncode == 0, made.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    r1_key = key_file.read_text().strip()
    assert r1_key == derive_runner_key(FLEET_SECRET.encode(), "r-1").hex()
    assert FLEET_SECRET.encode() not in made.stdout + made.stderr and r1_key.encode() not in made.stderr
    honest = topics.model_copy(update={"runner_id": "r-1", "runner_key": SecretStr(r1_key)})
    forger = topics.model_copy(update={"runner_id": "r-2", "runner_key": SecretStr(r1_key)})
    unsigned = topics.model_copy(update={"runner_id": "r-3"})

    workload = build_workload(16, roots=2, children=2, grandchildren=1, runs=3)
    attack = build_workload(17, roots=1, children=1, grandchildren=0, runs=2)
    honest_root = workload.runs[0].scope
    with worker_process(worker_settings, tmp_path / "worker.log") as worker, worker_log_on_failure(worker):
        lines = await publish_runs(honest, workload, tmp_path / "honest")
        forged = await publish_runs(forger, attack, tmp_path / "forged", lineage_root=honest_root)
        strays = await publish_runs(unsigned, attack, tmp_path / "unsigned", lineage_root=honest_root)
        await publish_in_foreign_stream(topics, bytes.fromhex(r1_key), attack.runs[0].lines[0])
        total = lines + forged + strays + 1
        metrics = await wait_for_metrics(worker_settings, total)  # on 127.0.0.1: no token needed
        assert metrics["records"] == {"usage": lines, "dead": forged + strays + 1}
        assert metrics["runner_identity_rejected"] == len(attack.runs) * 2 + 1  # one record per file

        def all_dead(records: list[Any]) -> bool:
            return len(records) >= len(attack.runs) * 2 + 1

        dead = await read_topic(topics, topics.topic("deadletter"), until=all_dead, wait_s=60)
        reasons = Counter(dict(r.headers)[H_REASON].decode() for r in dead)
        assert reasons == {
            "runner-identity: signature does not match runner 'r-2'": len(attack.runs),
            "runner-identity: record of runner 'r-3' is not signed": len(attack.runs),
            "runner-identity: stream id is not of runner 'r-1' (must start with its id and ':')": 1,
        }
        await converged_totals(topics, workload, wait_s=120)
        await lake_matches(topics, workload, wait_s=120)
