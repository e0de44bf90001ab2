"""A private secured broker (``broker start --secure``) for the security tests, and the
settings of each role's user on it, read from the credentials files the broker made."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config import broker
from config.broker_secure import ADMIN, Credentials
from config.settings import Settings
from tests.integration.conftest import _base_settings
from tests.integration.producers_harness import free_port


@dataclass(frozen=True)
class SecureBroker:
    settings: Settings  # how it was started (its state folder and ports)
    credentials: Credentials
    ca_file: Path

    def user(self, name: str, **overrides: Any) -> Settings:
        """Settings of a client connecting as ``name``, exactly from its credentials file."""
        values: dict[str, Any] = {}
        for line in self.credentials.file(name).read_text().splitlines():
            if line.startswith("SPENDSTREAM_"):
                key, _, value = line.partition("=")
                values[key.removeprefix("SPENDSTREAM_").lower()] = value
        return Settings(**{**values, **overrides})

    def admin(self, **overrides: Any) -> Settings:
        return self.user(ADMIN, **overrides)


@pytest.fixture(scope="session", name="secured")
def secured_broker_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """``spendstream broker start --secure`` in a folder of its own, on free ports; stopped
    at the end. The jars are the shared broker's (resolved once by Maven if needed)."""
    state = tmp_path_factory.mktemp("secure-broker")
    shared = _base_settings()
    broker.ensure_jars(shared)
    (state / "kafka").mkdir()
    (state / "kafka" / "libs").symlink_to(broker.paths_for(shared).libs, target_is_directory=True)
    settings = Settings(
        broker=None,
        state_dir=state,
        local_broker_port=free_port(),
        local_controller_port=free_port(),
        local_broker_heap="512m",
        local_broker_secure=True,
    )
    broker.start(settings)
    paths = broker.paths_for(settings)
    try:
        yield SecureBroker(settings, paths.credentials, paths.tls.ca_cert)
    finally:
        broker.stop(settings)
