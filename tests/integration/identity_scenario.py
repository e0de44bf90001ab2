"""Done-when (e)'s scenario, on whichever broker the parties connect to: a runner that
publishes under another runner's id is dead-lettered with a reason, and the honest runner's
usage is exact in totals and the lake.

The worker holds the fleet secret; runner ``r-1`` holds only its derived key (as
``spendstream runner-key`` provisions it). A forger with r-1's key claims runner ``r-2``, an
unsigned runner ``r-3`` signs nothing, and r-1 once signs honestly but names r-2's stream.
The forged records put their usage under the honest runner's root (lineage), so, were they
accepted, the honest root's subtree totals would grow. Every runner connects as the same
Kafka principal (``runner`` on a secured broker): the broker lets each write ``raw``, only
the signature tells them apart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from tests.reliability.faults import wait_for_metrics, worker_log_on_failure, worker_process

FLEET_SECRET = "fleet-secret-for-the-identity-test-0123456789"


@dataclass(frozen=True)
class Parties:
    """Who connects how: each reads or writes only what the scenario needs of it."""

    worker: Settings  # with the fleet secret and a web port of its own; its lake is checked
    runner: Settings  # every runner's connection (they differ only in runner id and key)
    deadletter_reader: Settings
    totals_reader: Settings


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


def provision_runner_key(operator: Settings, runner_id: str, folder: Path) -> str:
    """``spendstream runner-key`` as an operator runs it: the runner's key to a 0600 file;
    neither the fleet secret nor the key is printed."""
    key_file = folder / f"{runner_id}.key"
    made = spendstream(operator, "runner-key", runner_id, "--out", str(key_file))
    assert made.returncode == 0, made.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert key == derive_runner_key(FLEET_SECRET.encode(), runner_id).hex()
    assert FLEET_SECRET.encode() not in made.stdout + made.stderr and key.encode() not in made.stderr
    return key


async def forged_records_are_dead_lettered(parties: Parties, tmp_path: Path) -> None:
    worker = parties.worker
    assert worker.runner_secret is not None and worker.runner_secret.get_secret_value() == FLEET_SECRET
    r1_key = provision_runner_key(worker, "r-1", tmp_path)
    runner = parties.runner
    honest = runner.model_copy(update={"runner_id": "r-1", "runner_key": SecretStr(r1_key)})
    forger = runner.model_copy(update={"runner_id": "r-2", "runner_key": SecretStr(r1_key)})
    unsigned = runner.model_copy(update={"runner_id": "r-3", "runner_key": None, "runner_secret": None})

    workload = build_workload(16, roots=2, children=2, grandchildren=1, runs=3)
    attack = build_workload(17, roots=1, children=1, grandchildren=0, runs=2)
    honest_root = workload.runs[0].scope
    with worker_process(worker, tmp_path / "worker.log") as process, worker_log_on_failure(process):
        lines = await publish_runs(honest, workload, tmp_path / "honest")
        forged = await publish_runs(forger, attack, tmp_path / "forged", lineage_root=honest_root)
        strays = await publish_runs(unsigned, attack, tmp_path / "unsigned", lineage_root=honest_root)
        await publish_in_foreign_stream(runner, bytes.fromhex(r1_key), attack.runs[0].lines[0])
        total = lines + forged + strays + 1
        metrics = await wait_for_metrics(worker, total)  # on 127.0.0.1: no token needed
        assert metrics["records"] == {"usage": lines, "dead": forged + strays + 1}
        assert metrics["runner_identity_rejected"] == len(attack.runs) * 2 + 1  # one record per file

        def all_dead(records: list[Any]) -> bool:
            return len(records) >= len(attack.runs) * 2 + 1

        reader = parties.deadletter_reader
        dead = await read_topic(reader, reader.topic("deadletter"), until=all_dead, wait_s=60)
        reasons = Counter(dict(r.headers)[H_REASON].decode() for r in dead)
        assert reasons == {
            "runner-identity: signature does not match runner 'r-2'": len(attack.runs),
            "runner-identity: record of runner 'r-3' is not signed": len(attack.runs),
            "runner-identity: stream id is not of runner 'r-1' (must start with its id and ':')": 1,
        }
        await converged_totals(parties.totals_reader, workload, wait_s=120)
        await lake_matches(worker, workload, wait_s=120)
