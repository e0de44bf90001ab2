"""``config.broker.start`` works from plain code and from inside a running event loop (issue 15).

No JVM here: launching and waiting for the port are replaced, the warm-up's clients too, so
what is tested is how ``start`` runs the warm-up coroutine for each kind of caller.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from config import broker
from config.settings import Settings


@pytest.fixture
def fake_launch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[threading.Thread]:
    """A broker that 'starts' at once; returns the threads the warm-up ran on."""
    running = {"up": False}
    warmed: list[threading.Thread] = []

    def fake_status(settings: Settings) -> broker.BrokerStatus:
        return broker.BrokerStatus(True, running["up"], 4242 if running["up"] else None, "127.0.0.1:1")

    def fake_launch(settings: Settings, paths: broker.BrokerPaths) -> Any:
        running["up"] = True
        return object()

    async def fake_clients(settings: Settings) -> None:
        await asyncio.sleep(0)
        warmed.append(threading.current_thread())

    monkeypatch.setattr(broker, "status", fake_status)
    monkeypatch.setattr(broker, "_running_pid", lambda paths: None)
    monkeypatch.setattr(broker, "_port_open", lambda port: False)
    monkeypatch.setattr(broker, "_launch", fake_launch)
    monkeypatch.setattr(broker, "_wait_ready", lambda settings, paths, proc: None)
    monkeypatch.setattr(broker, "_warm_up_clients", fake_clients)
    return warmed


def settings(tmp_path: Path) -> Settings:
    return Settings(broker=None, state_dir=tmp_path / "state")


def test_start_outside_an_event_loop(fake_launch: list[threading.Thread], tmp_path: Path) -> None:
    assert broker.start(settings(tmp_path)).running
    assert fake_launch == [threading.main_thread()]


async def test_start_inside_a_running_event_loop(fake_launch: list[threading.Thread], tmp_path: Path) -> None:
    # Before issue 15's fix: "asyncio.run() cannot be called from a running event loop".
    assert broker.start(settings(tmp_path)).running
    assert len(fake_launch) == 1
    assert fake_launch[0] is not threading.current_thread()


async def test_warm_up_failure_inside_a_loop_is_a_broker_error(
    fake_launch: list[threading.Thread], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def refused(settings: Settings) -> None:
        raise ConnectionError("coordinator not available")

    monkeypatch.setattr(broker, "_warm_up_clients", refused)
    with pytest.raises(broker.BrokerError, match="coordinator not available"):
        broker.start(settings(tmp_path))


def test_the_secured_broker_has_no_plaintext_listener_and_denies_by_default(tmp_path: Path) -> None:
    from config import broker_secure
    from config.broker_secure import Credentials, ensure_credentials
    from config.tls import TlsFiles

    creds = Credentials(tmp_path / "credentials")
    ensure_credentials(creds, "127.0.0.1:29092", tmp_path / "ca.pem")
    settings = Settings(state_dir=tmp_path, local_broker_port=29092, local_controller_port=29093)
    props = broker_secure.server_properties(settings, tmp_path / "data", TlsFiles(tmp_path / "tls"), creds)
    lines = props.splitlines()
    assert "listeners=SASL_SSL://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093" in lines
    assert "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL" in lines
    assert "allow.everyone.if.no.acl.found=false" in lines
    assert "super.users=User:admin" in lines
    assert not any("PLAINTEXT://" in line for line in lines)
    for user in broker_secure.USERS:
        assert (creds.file(user).stat().st_mode & 0o777) == 0o600
    passwords = {creds.password(user) for user in broker_secure.USERS}
    assert len(passwords) == len(broker_secure.USERS)  # one random password per user
    described = broker_secure.describe_users(creds)
    assert all(password not in described for password in passwords)
