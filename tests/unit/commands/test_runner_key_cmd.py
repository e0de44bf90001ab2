"""``spendstream runner-key`` and the check of the signing settings at start (spendstream/cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.signing import derive_runner_key
from spendstream.cli import main

SECRET = "fleet-secret-0123456789abcdef"


def test_the_key_file_is_new_owner_only_and_holds_only_the_derived_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPENDSTREAM_RUNNER_SECRET", SECRET)
    out = tmp_path / "r-1.key"
    assert main(["runner-key", "r-1", "--out", str(out)]) == 0
    assert out.read_text() == derive_runner_key(SECRET.encode(), "r-1").hex() + "\n"
    assert out.stat().st_mode & 0o777 == 0o600
    assert main(["runner-key", "r-1", "--out", str(out)]) == 1  # never overwritten
    printed = capsys.readouterr()
    assert SECRET not in printed.out + printed.err and out.read_text().strip() not in printed.err


def test_stdout_on_request(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPENDSTREAM_RUNNER_SECRET", SECRET)
    assert main(["runner-key", "r-2", "--out", "-"]) == 0
    assert capsys.readouterr().out == derive_runner_key(SECRET.encode(), "r-2").hex() + "\n"


def test_without_a_secret_or_with_a_colon_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SPENDSTREAM_RUNNER_SECRET", raising=False)
    assert main(["runner-key", "r-1", "--out", str(tmp_path / "k")]) == 2
    monkeypatch.setenv("SPENDSTREAM_RUNNER_SECRET", SECRET)
    assert main(["runner-key", "r:1", "--out", str(tmp_path / "k")]) == 2
    assert not (tmp_path / "k").exists()
    assert "without ':'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SPENDSTREAM_RUNNER_KEY", "not-hex-" * 8, "SPENDSTREAM_RUNNER_KEY is not hexadecimal"),
        ("SPENDSTREAM_RUNNER_KEY", "ab" * 8, "SPENDSTREAM_RUNNER_KEY is not 64 hex characters"),
        (
            "SPENDSTREAM_RUNNER_SECRET",
            "short-secret",
            "SPENDSTREAM_RUNNER_SECRET is shorter than 16 characters",
        ),
    ],
)
def test_unusable_signing_settings_stop_every_command_without_being_printed(
    name: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["prices", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"spendstream: invalid SPENDSTREAM_* setting: {message}" and value not in err
