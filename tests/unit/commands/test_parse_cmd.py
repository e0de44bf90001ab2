"""``spendstream parse``: local files, exact figures, no broker."""

from __future__ import annotations

import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from spendstream.cli import main

REPO = Path(__file__).resolve().parents[3]
OPENCLAW = REPO / "tests" / "fixtures" / "openclaw"
GEMINI = REPO / "tests" / "fixtures" / "gemini"
TRANSCRIPT = "claude-transcript/132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
GPT_54 = {
    "input": "1.75",
    "output": "14",
    "cache_write_5m": "1.75",
    "cache_write_1h": "1.75",
    "cache_read": "0.175",
}


def parse_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["parse", *args, "--json"]) == 0
    document: dict[str, Any] = orjson.loads(capsys.readouterr().out)
    return document


def test_real_transcript_table_through_the_installed_command(real_fixtures: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spendstream.cli", "parse", str(real_fixtures / TRANSCRIPT)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("132b2f66-ee5f-46f6-8904-32d9dc4d36c3"))
    assert row.split()[1:] == [
        "claude-transcript",
        "claude-opus-4-5-20251101",
        "187",
        "2,016",
        "64,185",
        "622,125",
        "10,172,221",
        "$10.58909675",
        "computed",
    ]
    assert lines[0].split("  ")[0:1] == ["session"] and "cache write 5m" in lines[0]
    # 190 lines hold no "usage" and "assistant": skipped undecoded (schemas/sources/prefilter.py)
    assert "1 file(s), 536 lines: 326 with usage, 20 without usage, 0 rejected, 190 skipped" in result.stdout


def test_check_all_decodes_every_line_as_the_worker(
    real_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = parse_json(capsys, str(real_fixtures / TRANSCRIPT))
    checked = parse_json(capsys, str(real_fixtures / TRANSCRIPT), "--check-all")
    assert checked["outcomes"] == {"usage": 326, "no_usage": 210, "rejected": 0, "skipped": 0}
    assert fast["outcomes"] == {"usage": 326, "no_usage": 20, "rejected": 0, "skipped": 190}
    assert (fast["sessions"], fast["totals"]) == (checked["sessions"], checked["totals"])


def test_real_transcript_json(real_fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = parse_json(capsys, str(real_fixtures / TRANSCRIPT))
    expected_tokens = {
        "input_tokens": 2_016,
        "output_tokens": 64_185,
        "reasoning_tokens": 0,
        "cache_read_tokens": 10_172_221,
        "cache_write_5m_tokens": 622_125,
        "cache_write_1h_tokens": 0,
        "web_search_requests": 0,
    }
    assert out["totals"] == {**expected_tokens, "cost_usd": "10.589096750000", "events": 187, "sessions": 1}
    (session,) = out["sessions"]
    assert session["session_id"] == session["root_id"] == "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
    assert {k: session[k] for k in expected_tokens} == expected_tokens
    assert (session["cost_usd"], session["cost_sources"], session["sources"]) == (
        "10.589096750000",
        ["computed"],
        ["claude-transcript"],
    )
    assert out["outcomes"] == {"usage": 326, "no_usage": 20, "rejected": 0, "skipped": 190}
    assert out["cost_disagreements"] == 0
    assert out["files"] == [{"path": str(real_fixtures / TRANSCRIPT), "format": "claude-transcript"}]


def test_folders_are_walked_and_every_source_is_detected(
    real_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = parse_json(capsys, str(real_fixtures), str(OPENCLAW), str(GEMINI))
    formats = {Path(f["path"]).parent.name: f["format"] for f in out["files"]}
    assert formats == {
        "claude-json": "claude-json",
        "claude-stream-json": "claude-stream-json",
        "claude-transcript": "claude-transcript",
        "codex-exec-json": "codex-json",
        "openclaw": "openclaw",
        "gemini": "gemini-json",
    }
    assert len(out["files"]) == 13
    assert out["outcomes"] == {"usage": 346, "no_usage": 78, "rejected": 0, "skipped": 190}
    assert out["totals"]["cost_usd"] == "10.908376925000"
    assert out["totals"]["input_tokens"] == 133_042


def test_openclaw_content_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(OPENCLAW)]) == 0
    table = capsys.readouterr().out
    assert "$0.1879332" in table and "82,040" in table and "123,904" in table
    out = parse_json(capsys, str(OPENCLAW))
    assert out["totals"]["cost_usd"] == "0.187933200000"
    assert "OPENCLAW-CONTENT-MARKER" not in table + orjson.dumps(out).decode()


def test_prices_flag_and_cost_disagreements(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agreeing = tmp_path / "agree.json"
    agreeing.write_bytes(orjson.dumps({"models": {"gpt-5.4": GPT_54}}))
    assert parse_json(capsys, str(OPENCLAW), "--prices", str(agreeing))["cost_disagreements"] == 0
    computed = parse_json(capsys, str(OPENCLAW), "--prices", str(agreeing), "--cost-mode", "computed")
    assert computed["totals"]["cost_usd"] == "0.187933200000"
    assert computed["sessions"][0]["cost_sources"] == ["computed"]
    dearer = tmp_path / "dearer.json"
    dearer.write_bytes(orjson.dumps({"models": {"gpt-5.4": {**GPT_54, "input": "1.80"}}}))
    out = parse_json(capsys, str(OPENCLAW), "--prices", str(dearer))
    # Reported costs still win in the default mode. At $1.80 instead of $1.75 per million
    # input tokens, 5 of the 10 responses (the input-heavy ones: dff08ea8, 6f3c2401,
    # 36d1e5ee, 21c2e808 at 1.03%, 167ee67f) move by more than 1%; the cache-heavy ones do not.
    assert out["totals"]["cost_usd"] == "0.187933200000"
    assert out["cost_disagreements"] == 5


def test_prices_file_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_bytes(orjson.dumps({"models": {"gpt-5.4": GPT_54}}))
    monkeypatch.setenv("SPENDSTREAM_PRICES_FILE", str(prices))
    monkeypatch.setenv("SPENDSTREAM_COST_MODE", "computed")
    out = parse_json(capsys, str(OPENCLAW))
    assert (out["totals"]["cost_usd"], out["sessions"][0]["cost_sources"]) == ("0.187933200000", ["computed"])


def test_rejected_lines_are_counted_and_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = OPENCLAW / "8555a0a4-0b79-459d-939c-e17cdbbf4fe2.jsonl"
    lines = source.read_bytes().splitlines()
    broken = tmp_path / "broken.jsonl"
    secret = b'{"type":"message","message":{"role":"assistant","usage":{"input":-5}},"x":"SECRET-TEXT"}'
    broken.write_bytes(b"\n".join([*lines[:3], b"SECRET-TEXT not json", secret, b"", *lines[3:]]) + b"\n")
    out = parse_json(capsys, str(broken))
    assert out["outcomes"] == {"usage": 10, "no_usage": 10, "rejected": 2, "skipped": 0}
    assert [(r["line"], r["reason"]) for r in out["rejected_lines"]] == [
        (4, "not valid JSON (at char 0)"),
        (5, "input must be an integer from 0 to 1000000000000"),
    ]
    assert out["totals"]["input_tokens"] == 82_040
    assert main(["parse", str(broken)]) == 0
    table = capsys.readouterr().out
    assert f"rejected {broken}:5: input must be an integer" in table
    assert "SECRET-TEXT" not in table + orjson.dumps(out).decode()


def test_explicit_format(real_fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "run.log"
    shutil.copy(real_fixtures / "codex-exec-json" / "hello_world.jsonl", copy)
    out = parse_json(capsys, "--format", "codex-json", str(copy))
    assert (out["totals"]["input_tokens"], out["totals"]["cache_read_tokens"]) == (936, 6_528)
    wrong = parse_json(capsys, "--format", "claude-json", str(copy))
    assert wrong["outcomes"]["usage"] == 0 and wrong["outcomes"]["rejected"] > 0


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    bad = tmp_path / "prices.json"
    bad.write_text('{"models": {"x": {"input": "1"}}}')
    assert main(["parse", str(OPENCLAW), "--prices", str(bad)]) == 2
    assert f"bad price file: {bad}: x: missing output" in capsys.readouterr().err


def test_help_names_formats_and_prices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["parse", "--help"])
    text = capsys.readouterr().out
    for word in ("openclaw", "auto", "--prices", "SPENDSTREAM_PRICES_FILE", "--json", "--cost-mode"):
        assert word in text


def test_seed_000_result_counts_the_cache_write_usage_has_and_model_usage_lacks() -> None:
    """Issue 12 item 2: CLI 2.1.141 put the 83,842-token cache write only in ``usage``."""
    fixture = REPO / "tests" / "fixtures" / "claude-json" / "seed-000-result.json"
    for mode, source in (("reported", "reported"), ("computed", "computed")):
        result = subprocess.run(
            [sys.executable, "-m", "spendstream.cli", "parse", str(fixture), "--json", "--cost-mode", mode],
            capture_output=True,
            check=True,
            cwd=REPO,
        )
        out = orjson.loads(result.stdout)
        (session,) = out["sessions"]
        assert {k: out["totals"][k] for k in ("input_tokens", "output_tokens", "cache_write_5m_tokens")} == {
            "input_tokens": 6,
            "output_tokens": 6,
            "cache_write_5m_tokens": 83_842,
        }
        assert (out["totals"]["cache_write_1h_tokens"], out["totals"]["cache_read_tokens"]) == (0, 0)
        assert Decimal(out["totals"]["cost_usd"]) == Decimal("0.5241925")
        assert (session["models"], session["cost_sources"]) == (["claude-opus-4-6"], [source])
        outcomes = {"usage": 1, "no_usage": 0, "rejected": 0, "skipped": 0}
        assert (out["outcomes"], out["cost_disagreements"]) == (outcomes, 0)


def test_the_console_script_leaves_at_once_with_the_same_output_and_status(
    real_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``entry`` (the console script) ends a one-shot command with ``os._exit`` once its
    output is flushed: every byte and the exit status are main's."""
    want = parse_json(capsys, str(real_fixtures))
    command = [sys.executable, "-m", "spendstream.cli"]
    done = subprocess.run([*command, "parse", str(real_fixtures), "--json"], capture_output=True, check=False)
    assert done.returncode == 0 and orjson.loads(done.stdout) == want
    missing = subprocess.run(
        [*command, "parse", str(real_fixtures / "nope")], capture_output=True, check=False
    )
    assert missing.returncode == 2 and b"no such file or directory" in missing.stderr
    report = subprocess.run(
        [*command, "report", "session", "--from", str(real_fixtures), "--format", "json"],
        capture_output=True,
        check=False,
    )
    assert report.returncode == 0
    rows = orjson.loads(report.stdout)["rows"]
    assert sum(int(row["output_tokens"]) for row in rows) == want["totals"]["output_tokens"]
