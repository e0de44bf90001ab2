"""The role matrix: each role's exact rights, and the CreateAcls requests they become."""

from __future__ import annotations

import pytest

from config.acl import acl_matrix, render_matrix
from config.acl_admin import create_request


def rights(prefix: str, role: str) -> set[tuple[str, str, str, str]]:
    return {
        (a.resource_type, a.pattern_type, a.resource_name, a.operation)
        for a in acl_matrix(prefix)
        if a.role == role
    }


def test_a_runner_may_only_write_raw_idempotently() -> None:
    assert rights("p", "runner") == {
        ("TOPIC", "LITERAL", "p.raw", "WRITE"),
        ("TOPIC", "LITERAL", "p.raw", "DESCRIBE"),
        ("CLUSTER", "LITERAL", "kafka-cluster", "IDEMPOTENT_WRITE"),
    }


def test_analyst_and_budget_read_only_their_topics() -> None:
    assert rights("p", "analyst") == {
        ("TOPIC", "LITERAL", f"p.{t}", op) for t in ("usage", "deadletter") for op in ("READ", "DESCRIBE")
    }
    budget = rights("p", "budget")
    assert {r for r in budget if r[3] == "WRITE"} == {("TOPIC", "LITERAL", "p.alerts", "WRITE")}
    assert {r[2] for r in budget if r[3] == "READ"} == {"p.totals", "p.windows", "p.alerts", "p.usage"}


def test_the_worker_owns_its_faust_names_by_prefix_and_reads_no_alerts() -> None:
    worker = rights("p", "worker")
    assert ("TOPIC", "PREFIXED", "p-worker-", "WRITE") in worker
    assert ("GROUP", "PREFIXED", "p-worker", "READ") in worker
    assert ("TOPIC", "LITERAL", "p.raw", "WRITE") not in worker
    assert {r[3] for r in worker if r[2] == "p.alerts"} == {"DESCRIBE", "CREATE"}
    assert not any(r[0] == "CLUSTER" for r in worker)
    assert len(acl_matrix("p")) == 55


def test_principals_can_be_renamed_and_roles_are_checked() -> None:
    acls = acl_matrix("p", {"runner": "ci-runners"})
    assert {a.principal for a in acls if a.role == "runner"} == {"User:ci-runners"}
    assert {a.principal for a in acls if a.role == "worker"} == {"User:worker"}
    with pytest.raises(ValueError, match="unknown role"):
        acl_matrix("p", {"admin": "root"})


def test_the_matrix_prints_one_line_per_resource() -> None:
    lines = render_matrix(acl_matrix("p")).splitlines()
    assert lines[0].split() == ["role", "principal", "resource", "pattern", "name", "operations"]
    assert lines[1].split() == ["runner", "User:runner", "TOPIC", "LITERAL", "p.raw", "WRITE,DESCRIBE"]
    assert len(lines) == 21


def test_a_rule_becomes_a_create_acls_request_with_kafka_codes() -> None:
    runner_write = next(a for a in acl_matrix("p") if a.role == "runner" and a.operation == "WRITE")
    request = create_request(runner_write)
    assert request.API_KEY == 30
    assert (request._resource_type, request._resource_pattern_type_filter, request._operation) == (2, 3, 4)
    assert (request._principal, request._host, request._permission_type) == ("User:runner", "*", 3)
