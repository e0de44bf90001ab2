"""Secrets are never printed: help, errors, debug logs, spool files (no broker needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from config.settings import Settings
from tests.integration.conftest import REPO
from tests.integration.producers_harness import FAKE_CLI, SPENDSTREAM, cli_env

SECRET = "hunter2-Sup3r-S3cret-value"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = Settings(state_dir=tmp_path / "state", broker="127.0.0.1:1", producer_timeout_seconds=1.0)
    return cli_env(
        settings,
        SPENDSTREAM_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        SPENDSTREAM_SASL_MECHANISM="SCRAM-SHA-512",
        SPENDSTREAM_SASL_USERNAME="runner",
        SPENDSTREAM_SASL_PASSWORD=SECRET,
        **extra,
    )


def output(args: list[str], environ: dict[str, str]) -> bytes:
    proc = subprocess.run(
        [*SPENDSTREAM, *args], env=environ, cwd=REPO, capture_output=True, timeout=120, check=False
    )
    return proc.stdout + proc.stderr


def all_files(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_help_never_shows_the_password(tmp_path: Path) -> None:
    environ = env(tmp_path)
    for args in (
        ["--help"],
        ["run", "--help"],
        ["publish", "--help"],
        ["watch", "--help"],
        ["spool", "--help"],
    ):
        assert SECRET.encode() not in output(args, environ)


def test_errors_and_debug_logs_never_show_the_password(tmp_path: Path, real_fixtures: Path) -> None:
    environ = env(tmp_path)
    fixture = real_fixtures / "claude-json" / "result-success.json"
    seen = output(["-v", "publish", str(fixture)], environ)
    assert b"left in the spool" in seen  # the broker was unreachable: the line waits
    seen += output(
        ["-v", "run", "--format", "claude-json", "--", sys.executable, str(FAKE_CLI), "--emit", str(fixture)],
        environ,
    )
    seen += output(["-v", "spool", "drain", "--wait", "1"], environ)
    seen += output(["publish", "/no/such/file"], environ)
    seen += output(["publish"], {**environ, "SPENDSTREAM_PARTITIONS": "not-a-number"})
    assert b"invalid SPENDSTREAM_* setting" in seen
    assert SECRET.encode() not in seen
    assert SECRET.encode() not in all_files(tmp_path / "state")
