"""``spendstream budget``: arguments and the rules file checked before anything connects (exit 2);
the hourly limit's window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from schemas.rollup import Totals, WindowTotals
from spendstream.budget import hour_exceeded
from spendstream.cli import main


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"{rules", "is not JSON"),
        (orjson.dumps({"rules": [{"name": "r", "match": {"label": "task"}, "max_usd": "1"}]}), "KEY=GLOB"),
    ],
)
def test_a_bad_rules_file_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    rules = tmp_path / "rules.json"
    if content is not None:
        rules.write_bytes(content)
    assert main(["budget", "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert "bad rules file" in err and message in err


@pytest.mark.parametrize(
    "args",
    [
        ["budget"],
        ["budget", "s1"],
        ["budget", "s1", "--max-usd", "1", "--webhook", "http://127.0.0.1:1/"],
        ["budget", "s1", "--rules", "r.json"],
    ],
)
def test_budget_needs_a_scope_and_limit_or_rules(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert "spendstream budget:" in capsys.readouterr().err


def test_a_webhook_must_be_an_http_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps({"rules": [{"name": "r", "match": {"scope": "*"}, "max_usd": "1"}]}))
    assert main(["budget", "--rules", str(rules), "--webhook", "ftp://x"]) == 2
    assert "must be an http(s) URL" in capsys.readouterr().err


def test_the_hourly_limit_is_on_the_window_holding_now() -> None:
    start = datetime(2026, 12, 2, 19, tzinfo=UTC)
    spent = Totals(cost_usd=Decimal("0.55"), events=2)
    hour = WindowTotals("root", "root", 3600, start, spent, spent, 2)
    assert hour_exceeded(hour, Decimal("0.50"), start + timedelta(minutes=59))
    assert not hour_exceeded(hour, Decimal("0.55"), start)  # at the limit is within it
    assert not hour_exceeded(hour, Decimal("0.50"), start + timedelta(hours=1))  # a new hour
    minute = WindowTotals("root", "root", 60, start, spent, spent, 2)
    assert not hour_exceeded(minute, Decimal("0.50"), start)
