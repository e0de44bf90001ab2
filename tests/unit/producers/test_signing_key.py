"""Which key a runner signs with (producers/signing.py)."""

from __future__ import annotations

from pydantic import SecretStr

from config.settings import Settings
from producers.signing import runner_signing_key
from schemas.signing import derive_runner_key

SECRET = "fleet-secret-0123456789abcdef"


def test_the_runner_key_wins_then_the_fleet_secret_then_none() -> None:
    given = derive_runner_key(SECRET.encode(), "r-9")
    both = Settings(runner_id="r-1", runner_key=SecretStr(given.hex()), runner_secret=SecretStr(SECRET))
    assert runner_signing_key(both) == given
    operator = Settings(runner_id="r-1", runner_secret=SecretStr(SECRET))
    assert runner_signing_key(operator) == derive_runner_key(SECRET.encode(), "r-1")
    assert runner_signing_key(Settings(runner_id="r-1")) is None
