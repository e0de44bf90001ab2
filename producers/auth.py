"""How a runner's usage is billed, as the runner can tell: only the mode, never a secret.

Evidence, strongest first (schemas/README.md, "Auth mode"):

1. declared: ``--auth-mode`` or ``SPENDSTREAM_AUTH_MODE`` (the settings' ``auth_mode``);
2. what the CLI itself reports (stream-json's ``apiKeySource``, OpenClaw's provider):
   the worker's parsers, ranked between 1 and 3 by schemas/normalize.py::settle_auth;
3. the runner's environment when ``run``, ``watch`` or ``hook`` start: a variable that
   bills an API account (an API key, Bedrock/Vertex switches) means ``api_key``; none of
   them and a Claude credentials file (the claude.ai login) means ``subscription``.

Only the NAMES of variables are looked at (a Bedrock/Vertex switch's value, "0" or "1",
apart) and the credentials file is only tested for existence: no key, token or file
content is read into a record. ``publish`` takes only 1: its files may come from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from schemas.usage import AuthMode

# Set to a non-empty value, each of these bills an API account, not a subscription.
API_KEY_VARIABLES = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
)
# Switches: set to 1/true they route Claude Code to a cloud provider's billing.
CLOUD_SWITCHES = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "GOOGLE_GENAI_USE_VERTEXAI")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class AuthEvidence:
    """A mode and whether the user declared it (else: guessed from the environment)."""

    mode: AuthMode
    declared: bool


def environment_auth(environ: Mapping[str, str], claude_credentials: Path | None) -> AuthMode | None:
    """The mode the runner's environment suggests, or None when it suggests none."""
    if any(environ.get(name, "").strip() for name in API_KEY_VARIABLES):
        return "api_key"
    if any(environ.get(name, "").strip().lower() in _TRUE for name in CLOUD_SWITCHES):
        return "api_key"
    if claude_credentials is not None and claude_credentials.is_file():
        return "subscription"
    return None


def claude_credentials_file(environ: Mapping[str, str]) -> Path | None:
    """Where Claude Code keeps its login (``$CLAUDE_CONFIG_DIR`` or ``~/.claude``)."""
    folder = environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if folder:
        return Path(folder) / ".credentials.json"
    home = environ.get("HOME", "").strip()
    return Path(home) / ".claude" / ".credentials.json" if home else None


def runner_auth(declared: AuthMode | None, environ: Mapping[str, str]) -> AuthEvidence | None:
    """The evidence a ``run``, ``watch`` or ``hook`` publishes with its lines (``ss-auth``)."""
    if declared is not None and declared != "unknown":
        return AuthEvidence(declared, declared=True)
    guessed = environment_auth(environ, claude_credentials_file(environ))
    return AuthEvidence(guessed, declared=False) if guessed is not None else None


def declared_auth(declared: AuthMode | None) -> AuthEvidence | None:
    """The evidence ``publish`` publishes with: only what the user declared."""
    return AuthEvidence(declared, declared=True) if declared is not None and declared != "unknown" else None
