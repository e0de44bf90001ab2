"""The runner's auth evidence: flags first, then the environment; only names are looked at."""

from __future__ import annotations

from pathlib import Path

from producers.auth import AuthEvidence, declared_auth, runner_auth


def _home(tmp_path: Path, *, credentials: bool) -> dict[str, str]:
    if credentials:
        (tmp_path / ".claude").mkdir()
        (tmp_path / ".claude" / ".credentials.json").write_text('{"secret": "never read"}')
    return {"HOME": str(tmp_path)}


def test_declared_mode_outranks_the_environment(tmp_path: Path) -> None:
    env = {**_home(tmp_path, credentials=True), "ANTHROPIC_API_KEY": "sk-x"}
    assert runner_auth("subscription", env) == AuthEvidence("subscription", declared=True)


def test_an_api_key_or_a_cloud_switch_means_api_key(tmp_path: Path) -> None:
    home = _home(tmp_path, credentials=True)
    for extra in ({"ANTHROPIC_API_KEY": "sk-x"}, {"CLAUDE_CODE_USE_BEDROCK": "1"}, {"OPENAI_API_KEY": "k"}):
        assert runner_auth(None, {**home, **extra}) == AuthEvidence("api_key", declared=False)
    assert runner_auth(None, {**home, "CLAUDE_CODE_USE_VERTEX": "0"}) == AuthEvidence(
        "subscription", declared=False
    )


def test_only_a_credentials_file_means_subscription_and_nothing_means_no_evidence(tmp_path: Path) -> None:
    assert runner_auth(None, _home(tmp_path, credentials=False)) is None
    assert runner_auth(None, _home(tmp_path, credentials=True)) == AuthEvidence("subscription", False)
    assert runner_auth(None, {}) is None


def test_publish_takes_only_what_is_declared() -> None:
    assert declared_auth(None) is None
    assert declared_auth("api_key") == AuthEvidence("api_key", declared=True)
