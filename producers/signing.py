"""This runner's signing key (schemas/signing.py), from its settings."""

from __future__ import annotations

from config.settings import Settings
from schemas.signing import derive_runner_key, fleet_secret_bytes, parse_runner_key


def runner_signing_key(settings: Settings) -> bytes | None:
    """``SPENDSTREAM_RUNNER_KEY``; else, on a machine that holds the fleet secret (the
    operator's, a one-host setup), the key derived from it for ``SPENDSTREAM_RUNNER_ID``;
    else None (records go unsigned). Raises RunnerKeyError for an unusable value."""
    if settings.runner_key is not None:
        return parse_runner_key(settings.runner_key.get_secret_value())
    if settings.runner_secret is not None:
        secret = fleet_secret_bytes(settings.runner_secret.get_secret_value())
        return derive_runner_key(secret, settings.runner_id)
    return None
