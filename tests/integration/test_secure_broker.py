"""Issue 16 (a)-(d): the pipeline against the secured local broker (TLS + SASL/SCRAM-SHA-512,
per-role ACLs, no plaintext listener), each component with its own role's user only."""

from __future__ import annotations

import asyncio
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pydantic import SecretStr

from config.access import refusal
from config.acl import acl_matrix
from config.acl_admin import apply_acls
from config.kafka import client_options, ensure_topics
from config.settings import Settings
from tests.integration.convergence import converged_totals, lake_matches
from tests.integration.harness import WorkerProcess
from tests.integration.producers_harness import FAKE_CLI, free_port, spendstream
from tests.integration.secure_harness import SecureBroker, secured_broker_fixture  # noqa: F401 - fixture
from tests.integration.workload import build_workload, publish_workload

pytestmark = pytest.mark.integration

EXIT_REFUSED = 77
LINE = (
    b'{"type":"result","subtype":"success","is_error":false,"session_id":"sec-1",'
    b'"total_cost_usd":0.25,"usage":{"input_tokens":10,"output_tokens":5},"uuid":"sec-u1"}\n'
)


def new_prefix() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


async def prepared(secure: SecureBroker, prefix: str) -> None:
    """Topics and every role's ACLs for ``prefix``, as the admin user."""
    admin = secure.admin(topic_prefix=prefix)
    await ensure_topics(admin)
    await apply_acls(admin, acl_matrix(prefix))


def spooled_bytes(settings: Settings) -> int:
    folder = settings.spool_path
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


async def end_offsets(secure: SecureBroker, topic: str) -> int:
    """Records ever written to ``topic`` (summed end offsets), read as the admin user."""
    consumer = AIOKafkaConsumer(**_options(secure.admin()), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # a consumer keeps no topic metadata
            partitions = consumer._client.cluster.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


def _options(settings: Settings) -> dict[str, Any]:
    return client_options(settings)


# -- (a) ------------------------------------------------------------------------------------
async def test_the_workload_end_to_end_with_each_roles_own_user(
    secured: SecureBroker, tmp_path: Path
) -> None:
    prefix = new_prefix()
    admin = secured.admin(topic_prefix=prefix)
    applied = spendstream(admin, "acl", "apply")  # `acl apply` on an existing cluster
    assert applied.returncode == 0, applied.stderr.decode()
    assert f"applied 55 ACLs for prefix '{prefix}'" in applied.stderr.decode()
    common = {"topic_prefix": prefix, "data_dir": tmp_path / "lake", "sink_flush_seconds": 0.5}
    worker = secured.user("worker", **common, state_dir=tmp_path / "worker", web_port=free_port())
    runner = secured.user("runner", **common, state_dir=tmp_path / "runner", runner_id="secure-runner")
    budget = secured.user("budget", **common, state_dir=tmp_path / "budget")
    await ensure_topics(worker)  # the worker creates every topic, as `spendstream worker` does

    workload = build_workload(seed=7)
    process = WorkerProcess(worker, tmp_path / "worker.log")
    process.start()
    try:
        await publish_workload(runner, workload, tmp_path / "in")
        latest = await converged_totals(budget, workload)  # read as budget, exact per scope
        await lake_matches(worker, workload)  # the worker's lake sink, exact per session
    finally:
        process.terminate()
    root = latest["root-7-0"]
    assert root.subtree.events == 21
    assert root.children == 2
    assert sum((r.own.cost_usd for r in latest.values()), Decimal(0)) == workload.total_cost
    reconciled = spendstream(budget, "reconcile")  # lake vs totals, totals read as budget
    assert reconciled.returncode == 0, reconciled.stderr.decode()
    assert reconciled.stdout.decode() == "all 3 root scopes agree\n"
    assert spooled_bytes(runner) == 0
    log = (tmp_path / "worker.log").read_text()
    assert "AuthorizationFailed" not in log
    assert "AuthenticationFailed" not in log


# -- (b) ------------------------------------------------------------------------------------
async def test_a_runner_may_write_raw_and_nothing_else(secured: SecureBroker, tmp_path: Path) -> None:
    prefix = new_prefix()
    await prepared(secured, prefix)
    runner = secured.user(
        "runner", topic_prefix=prefix, state_dir=tmp_path / "state", data_dir=tmp_path / "lake"
    )
    (tmp_path / "a.jsonl").write_bytes(LINE)

    published = spendstream(runner, "publish", "--format", "claude-json", str(tmp_path / "a.jsonl"))
    assert published.returncode == 0, published.stderr.decode()  # raw: allowed

    budget = spendstream(runner, "budget", "root", "--max-usd", "1", "--for", "5")
    assert budget.returncode == EXIT_REFUSED
    assert budget.stderr.decode().splitlines() == [
        f"spendstream budget: the broker refused User:runner: not allowed to use {prefix}.totals"
    ]
    reconcile = spendstream(runner, "reconcile")
    assert reconcile.stderr.decode().splitlines() == [
        f"spendstream reconcile: the broker refused User:runner: not allowed to read {prefix}.totals"
    ]
    assert reconcile.returncode == 2

    for name in ("usage", "totals"):
        topic = f"{prefix}.{name}"
        read = await _read_error(runner, topic)
        assert str(refusal(read, runner, action="read", topic=topic)) == (
            f"the broker refused User:runner: not allowed to read {topic}"
        )
        written = await _write_error(runner, topic)
        assert str(refusal(written, runner, action="write", topic=topic)) == (
            f"the broker refused User:runner: not allowed to write {topic}"
        )
        assert await end_offsets(secured, topic) == 0  # the broker took nothing
    assert spooled_bytes(runner) == 0


async def _read_error(settings: Settings, topic: str) -> BaseException:
    consumer = AIOKafkaConsumer(topic, **_options(settings), group_id=None, auto_offset_reset="earliest")
    try:
        await consumer.start()
        for _ in range(20):
            await consumer.getmany(timeout_ms=250)
    except TopicAuthorizationFailedError as exc:
        return exc
    finally:
        await consumer.stop()
    raise AssertionError(f"{topic} was readable")


async def _write_error(settings: Settings, topic: str) -> BaseException:
    producer = AIOKafkaProducer(**_options(settings), enable_idempotence=True, request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"forged", key=b"k")
    except TopicAuthorizationFailedError as exc:
        return exc
    finally:
        await producer.stop()
    raise AssertionError(f"{topic} was writable")


async def test_a_refused_runner_spools_nothing_it_cannot_send(secured: SecureBroker, tmp_path: Path) -> None:
    """A prefix the runner has no ACL for: publish and run say so in one line, keep nothing."""
    prefix = new_prefix()
    await ensure_topics(secured.admin(topic_prefix=prefix))  # topics, but no ACLs
    runner = secured.user("runner", topic_prefix=prefix, state_dir=tmp_path / "state")
    path = tmp_path / "a.jsonl"
    path.write_bytes(LINE)
    refused = f"the broker refused User:runner: not allowed to write {prefix}.raw"

    published = spendstream(runner, "publish", "--format", "claude-json", str(path))
    assert published.returncode == EXIT_REFUSED
    assert published.stderr.decode().splitlines() == [f"spendstream publish: {refused}"]

    fake = [sys.executable, str(FAKE_CLI), "--emit", str(path)]
    ran = spendstream(runner, "run", "--format", "claude-json", "--", *fake)
    assert ran.returncode == 0  # the wrapped command's own exit: it is not affected
    assert ran.stdout == LINE
    assert f"{refused}; this run's lines are not published (nothing spooled)" in ran.stderr.decode()
    assert "Traceback" not in ran.stderr.decode()

    assert spooled_bytes(runner) == 0
    assert await end_offsets(secured, f"{prefix}.raw") == 0


# -- (c) ------------------------------------------------------------------------------------
async def test_a_wrong_password_is_named_as_such_and_never_shown(
    secured: SecureBroker, tmp_path: Path
) -> None:
    prefix = new_prefix()
    await prepared(secured, prefix)
    wrong = f"wrong-{uuid.uuid4().hex}"
    path = tmp_path / "a.jsonl"
    path.write_bytes(LINE)
    runner = secured.user("runner", topic_prefix=prefix, state_dir=tmp_path / "state")
    bad_runner = runner.model_copy(update={"sasl_password": SecretStr(wrong)})
    right = runner.sasl_password.get_secret_value() if runner.sasl_password else ""
    cause = (
        "authentication failed for user 'runner' (SCRAM-SHA-512) at "
        f"{runner.bootstrap_servers}: the broker rejected the user name or password "
        "(SPENDSTREAM_SASL_USERNAME/PASSWORD)"
    )

    published = spendstream(bad_runner, "publish", "--format", "claude-json", str(path))
    assert published.returncode == EXIT_REFUSED
    assert published.stderr.decode().splitlines() == [f"spendstream publish: {cause}"]
    assert spooled_bytes(bad_runner) == 0

    budget_user = secured.user("budget", topic_prefix=prefix, state_dir=tmp_path / "state")
    budget = spendstream(
        budget_user.model_copy(update={"sasl_password": SecretStr(wrong)}), "budget", "r", "--max-usd", "1"
    )
    assert budget.returncode == EXIT_REFUSED
    assert budget.stderr.decode().splitlines() == [
        "spendstream budget: " + cause.replace("'runner'", "'budget'")
    ]

    worker_user = secured.user("worker", topic_prefix=prefix, state_dir=tmp_path / "state")
    worker = spendstream(
        worker_user.model_copy(update={"sasl_password": SecretStr(wrong)}),
        "worker",
        "--no-restart",
        timeout=90,
    )
    assert worker.returncode == 1
    # The worker logs as a service does (aiokafka's own line first); its last line is the cause.
    assert worker.stderr.decode().splitlines()[-1:] == [
        "spendstream worker: " + cause.replace("'runner'", "'worker'")
    ]
    for proc in (published, budget, worker):
        seen = proc.stdout + proc.stderr
        assert wrong.encode() not in seen
        assert right.encode() not in seen


# -- (d) ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "protocol",
    ["PLAINTEXT", "SSL"],  # no TLS at all; TLS with the right CA but no SASL
)
async def test_a_client_without_tls_and_sasl_is_refused(
    secured: SecureBroker, protocol: str, tmp_path: Path
) -> None:
    prefix = new_prefix()
    await prepared(secured, prefix)
    anonymous = secured.user(
        "runner", topic_prefix=prefix, security_protocol=protocol, sasl_mechanism=None,
        sasl_username=None, sasl_password=None,
    )  # fmt: skip
    producer = AIOKafkaProducer(**_options(anonymous), request_timeout_ms=5_000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(producer.start(), 60)
    await producer.stop()
    assert await end_offsets(secured, f"{prefix}.raw") == 0


async def test_a_broker_certificate_from_another_ca_is_refused(secured: SecureBroker, tmp_path: Path) -> None:
    """TLS is verified: without the broker's CA (the system's CAs instead) nothing connects."""
    prefix = new_prefix()
    await prepared(secured, prefix)
    runner = secured.user("runner", topic_prefix=prefix, state_dir=tmp_path / "state", ssl_cafile=None)
    path = tmp_path / "a.jsonl"
    path.write_bytes(LINE)
    published = spendstream(runner, "publish", "--format", "claude-json", str(path))
    assert published.returncode == EXIT_REFUSED
    assert published.stderr.decode().splitlines() == [
        f"spendstream publish: TLS: the certificate of the broker at {runner.bootstrap_servers} could not "
        "be verified (unable to get local issuer certificate); SPENDSTREAM_SSL_CAFILE must be the CA that "
        "signed it"
    ]
    assert spooled_bytes(runner) == 0
