"""Issue 16 (e) on the secured local broker (TLS + SASL/SCRAM-SHA-512, per-role ACLs): the
worker connects as ``worker`` with the fleet secret, every runner as the ``runner``
principal, so the broker lets each write ``raw`` and only the runner signature tells them
apart. A runner publishing under another runner's id (or unsigned, or in another runner's
stream) is dead-lettered with a ``runner-identity: ...`` reason, read by ``analyst``; the
honest runner's totals (read by ``budget``) and lake are exact. The scenario is the one of
test_runner_identity.py (tests/integration/identity_scenario.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.integration.identity_scenario import FLEET_SECRET, Parties, forged_records_are_dead_lettered
from tests.integration.producers_harness import free_port
from tests.integration.secure_harness import SecureBroker, new_prefix, prepared

pytestmark = pytest.mark.integration


async def test_records_under_another_runners_id_are_dead_lettered_on_the_secured_broker(
    secured: SecureBroker, tmp_path: Path
) -> None:
    prefix = new_prefix()
    await prepared(secured, prefix)  # topics and every role's ACLs, as the admin
    common = {"topic_prefix": prefix, "data_dir": tmp_path / "lake", "sink_flush_seconds": 0.5}
    parties = Parties(
        worker=secured.user(
            "worker",
            **common,
            state_dir=tmp_path / "worker",
            web_port=free_port(),
            runner_secret=SecretStr(FLEET_SECRET),
        ),
        runner=secured.user("runner", **common, state_dir=tmp_path / "runner"),
        deadletter_reader=secured.user("analyst", topic_prefix=prefix),
        totals_reader=secured.user("budget", topic_prefix=prefix),
    )
    await forged_records_are_dead_lettered(parties, tmp_path)
    log = (tmp_path / "worker.log").read_text()
    assert "AuthorizationFailed" not in log
    assert "AuthenticationFailed" not in log
    assert FLEET_SECRET not in log
