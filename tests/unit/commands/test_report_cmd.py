"""``spendstream report`` and ``spendstream compact`` through the CLI entry point."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from sinks.lake import write_usage_batch
from spendstream.cli import main
from tests.unit.sinks.factory import TOPIC, event, write_report_lake, write_small_files


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
