"""``spendstream report`` and ``spendstream compact`` through the CLI entry point."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from sinks.lake import write_usage_batch
from spendstream.cli import main
from tests.unit.sinks.factory import TOPIC, event, seed_001, write_report_lake, write_small_files


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SPENDSTREAM_DATA_DIR", str(tmp_path))
    return tmp_path


def test_json_report_has_exact_decimal_strings(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_report_lake(lake)
    assert main(["report", "session", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["report"] == "session" and out["since"] is None
    r1 = out["rows"][0]
    assert (r1["session_id"], r1["cost_usd"], r1["cache_hit_ratio"], r1["cache_write_overhead"]) == (
        "r1",
        "0.123456789013",
        "0.8791",  # 800 / (110 + 800)
        "0.2252",  # cache-write cost / cost
    )
    parts = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
    assert sum(Decimal(r1[f"{p}_cost_usd"]) for p in parts) == Decimal(r1["cost_usd"])
    assert Decimal(r1["cache_write_cost_usd"]) == Decimal(r1["cache_write_5m_cost_usd"]) + Decimal(
        r1["cache_write_1h_cost_usd"]
    )
    assert (r1["input_tokens"], r1["cache_write_5m_tokens"], r1["cache_write_1h_tokens"]) == (110, 100, 90)
    assert out["rows"][3]["cache_hit_ratio"] is None
    assert out["totals"]["cost_usd"] == "4.206790122346"
    assert out["totals"]["total_tokens"] == 1172


def test_table_report_is_readable_with_a_total_line(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_report_lake(lake)
    assert main(["report", "tree", "--since", "2025-03-31", "--until", "2025-04-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["scope_id", "root_id", "parent_id"]
    assert lines[2].startswith("r1 ") and lines[3].startswith("  c1 ") and lines[4].startswith("    g1 ")
    assert lines[-2].startswith("TOTAL") and lines[-2].endswith("4.206790122346")


def test_bad_dates_are_refused(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "daily", "--since", "yesterday"])
    assert main(["report", "daily", "--since", "2025-02-01", "--until", "2025-01-01"]) == 2


def test_compact_command(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_small_files(lake)
    assert main(["compact", "--date", "2025-03-31"]) == 0
    out = capsys.readouterr().out
    assert "usage date=2025-03-31 p0: 15 files" in out
    assert out.splitlines()[-1].startswith("2 merged file(s)")


def test_reports_name_cost_sources_and_unpriced_models(
    lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_report_lake(lake)
    unpriced = [
        (offset, replace(event(10 + offset, model=model, cost="0"), cost_source="unpriced"))
        for offset, model in enumerate(["claude-imaginary-9", "claude-imaginary-9", None])
    ]
    write_usage_batch(lake, TOPIC, 2, unpriced)
    assert main(["report", "model"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "3 events unpriced: claude-imaginary-9, (no model)"
    assert "cost_sources" in lines[0] and any("reported,unpriced" in line for line in lines)
    assert main(["report", "daily", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert (out["unpriced_events"], out["unpriced_models"]) == (3, ["claude-imaginary-9", "(no model)"])
    assert out["rows"][0]["cost_sources"] == ["reported", "unpriced"]


# Issue 14: report label, --where, --format, --from (no broker).

TRANSCRIPT_SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
STREAM_PARENT = "08cd4ce5-1ce0-4dd4-8e7c-8b69712c514e"


def claude_result(session: str, tokens_in: int, tokens_out: int, cost: str) -> bytes:
    """A ``claude -p --output-format json`` result line (what `run` would publish)."""
    usage = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    line = {"type": "result", "subtype": "success", "session_id": session, "usage": usage}
    return orjson.dumps({**line, "total_cost_usd": float(cost)}) + b"\n"


def run_report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def test_label_report_prints_seed_001_lines(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_usage_batch(lake, TOPIC, 0, list(enumerate(seed_001())))
    out = run_report(capsys, "label", "agent", "--where", "task=T42", "--format", "line")
    assert out.splitlines() == [
        "Total · 57.3k in / 15.2k out · $0.30",
        "Developer · 45.2k in / 12.1k out · $0.21",
        "Reviewer · 12.1k in / 3.1k out · $0.09",
        "(no agent) · 1 in / 1 out · $0.00",
    ]
    as_json = orjson.loads(run_report(capsys, "label", "agent", "--where", "task=T42", "--json"))
    assert as_json == orjson.loads(
        run_report(capsys, "label", "agent", "--where", "task=T42", "--format", "json")
    )
    assert as_json["label_key"] == "agent" and as_json["where"] == {"task": "T42"}
    assert [row["label"] for row in as_json["rows"]] == ["developer", "reviewer", None]
    csv_lines = run_report(capsys, "label", "agent", "--format", "csv").splitlines()
    assert csv_lines[1].startswith("developer,3,reported,3,45209,")
    table = run_report(capsys, "label", "agent")
    assert table.splitlines()[0].split()[:3] == ["label", "sessions", "cost_sources"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["label"], "needs the label to group by"),
        (["daily", "agent"], "takes no KEY"),
        (["daily", "--label", "a=b"], "--label labels files read with --from"),
        (["daily", "--from", "/nonexistent/spendstream"], "no such file or directory"),
    ],
)
def test_usage_errors_exit_2(
    lake: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["report", *args]) == 2
    assert message in capsys.readouterr().err


def test_from_reads_files_through_the_parsers_and_ledger(
    lake: Path, capsys: pytest.CaptureFixture[str], real_fixtures: Path
) -> None:
    out = orjson.loads(run_report(capsys, "session", "--json", "--from", str(real_fixtures)))
    rows = {row["session_id"]: row for row in out["rows"]}
    transcript = rows[TRANSCRIPT_SESSION]
    assert (transcript["input_tokens"], transcript["output_tokens"], transcript["cost_usd"]) == (
        2016,
        64185,
        "10.58909675",
    )
    assert (transcript["cache_write_5m_tokens"], transcript["cache_read_tokens"]) == (622125, 10172221)
    assert len(rows) == 9 and out["unpriced_events"] == 6  # codex exec names no model
    assert not any(lake.iterdir())  # the lake was not read nor written


def test_from_rolls_subagents_into_their_parents(
    lake: Path, capsys: pytest.CaptureFixture[str], real_fixtures: Path
) -> None:
    path = str(real_fixtures / "claude-stream-json")
    tree = orjson.loads(run_report(capsys, "tree", "--json", "--from", path))
    assert [(r["scope_id"], r["depth"], r["output_tokens"], r["own_cost_usd"]) for r in tree["rows"]] == [
        (STREAM_PARENT, 0, 250, "0"),
        (f"{STREAM_PARENT}/agent-toolu_012hZhNyfdf6Y156ryHJSbxd", 1, 250, "0.00665905"),
    ]
    assert tree["totals"]["cost_usd"] == "0.00665905"


def test_from_labels_every_file_and_dates_timeless_lines_by_mtime(
    lake: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    developer, other = runs / "developer.json", runs / "other.json"
    developer.write_bytes(claude_result("s-dev", 45_200, 12_100, "0.21"))
    other.write_bytes(claude_result("s-other", 1, 1, "5"))
    os.utime(other, ns=(0, 1_700_000_000_123_456_789))  # 2023-11-14T22:13:20.123456Z
    out = run_report(
        capsys, "label", "agent", "--format", "line", "--from", str(developer), "--label", "agent=developer"
    )
    assert out.splitlines() == [
        "Total · 45.2k in / 12.1k out · $0.21",
        "Developer · 45.2k in / 12.1k out · $0.21",
    ]
    sessions = orjson.loads(
        run_report(capsys, "session", "--json", "--until", "2023-12-31", "--from", str(runs))
    )
    assert [(r["session_id"], r["first_event"]) for r in sessions["rows"]] == [
        ("s-other", "2023-11-14T22:13:20.123456+00:00")
    ]


def test_from_without_a_path_reads_the_clis_folders(
    lake: Path,
    capsys: pytest.CaptureFixture[str],
    real_fixtures: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    project = home / ".claude" / "projects" / "-home-me-proj"
    project.mkdir(parents=True)
    shutil.copy(real_fixtures / "claude-transcript" / f"{TRANSCRIPT_SESSION}.jsonl", project)
    codex = home / ".codex" / "sessions" / "2026" / "01" / "02"
    codex.mkdir(parents=True)
    shutil.copy(real_fixtures / "codex-exec-json" / "hello_world.jsonl", codex / "rollout-x.jsonl")
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    out = orjson.loads(run_report(capsys, "model", "--json", "--from"))
    assert [(r["model"], r["events"]) for r in out["rows"]] == [("claude-opus-4-5-20251101", 187), (None, 1)]
    assert out["totals"]["cost_usd"] == "10.58909675"


def test_messages_report_and_its_session_flag(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_report_lake(lake)
    assert main(["report", "messages", "--session", "r1", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["report"] == "messages"
    assert [row["session_id"] for row in out["rows"]] == ["r1", "c1", "g1"]  # r1 and its subtree
    assert {"message_id", "request_id", "input_cost_usd", "cache_write_1h_cost_usd"} <= out["rows"][0].keys()
    assert out["totals"]["cost_usd"] == "3.873456789013"
    assert main(["report", "messages"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["session_id", "message_id", "request_id"]
    assert "cache_write_cost" in lines[0] and lines[-2].startswith("TOTAL")
    assert main(["report", "daily", "--session", "r1"]) == 2
    assert "--session is for messages" in capsys.readouterr().err


def test_a_duckdb_error_exits_1(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # DuckDB is imported only where a connection is made; its errors still exit 1.
    folder = lake / "usage" / "date=2025-03-31"
    folder.mkdir(parents=True)
    (folder / f"{TOPIC}-p0000-{0:020d}-{0:020d}.parquet").write_bytes(b"not parquet")
    assert main(["report", "session", "--json"]) == 1
    assert "spendstream report:" in capsys.readouterr().err
