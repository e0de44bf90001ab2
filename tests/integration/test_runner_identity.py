"""Done-when (e), on the plaintext dev broker: a runner that publishes under another runner's
id is dead-lettered with a reason, and the honest runner's usage is exact in totals and the
lake (the scenario: tests/integration/identity_scenario.py; on the secured broker:
test_secure_runner_identity.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from config.settings import Settings
from tests.integration.identity_scenario import FLEET_SECRET, Parties, forged_records_are_dead_lettered
from tests.reliability.faults import on_free_port

pytestmark = pytest.mark.integration


async def test_records_under_another_runners_id_are_dead_lettered(topics: Settings, tmp_path: Path) -> None:
    worker = on_free_port(topics.model_copy(update={"runner_secret": SecretStr(FLEET_SECRET)}))
    parties = Parties(worker=worker, runner=topics, deadletter_reader=topics, totals_reader=topics)
    await forged_records_are_dead_lettered(parties, tmp_path)
