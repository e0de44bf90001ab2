"""Issue 14, test (a): per-response attribution of the real Claude transcript.

SOURCES.md: the 326 assistant lines are 100 API responses, 64,185 output tokens and
$10.58909675 at Opus 4.5 list prices. The same events are checked in memory (parsers and
ledger, as ``spendstream parse`` runs them) and through the lake with ``report messages``
(``--from`` will feed the same report from the same events).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from schemas.ledger import MemoryLedger
from schemas.money import ZERO_USD
from schemas.usage import CostSplit, UsageEvent
from sinks.lake import write_usage_batch
from sinks.reports import build_report
from spendstream.cli import main
from spendstream.local_parse import LocalParser

TRANSCRIPT = "claude-transcript/132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
COST = Decimal("10.58909675")
# At $5 / $25 / $0.50 / $6.25 per million: input 2,016, output 64,185, read 10,172,221,
# 5-minute writes 622,125.
SPLIT = CostSplit(
    input=Decimal("0.01008"),
    output=Decimal("1.604625"),
    cache_read=Decimal("5.0861105"),
    cache_write_5m=Decimal("3.88828125"),
)
PARTS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")


class CollectingParser(LocalParser):
    """``spendstream parse``'s pipeline, keeping the events it accounts."""

    def __init__(self) -> None:
        super().__init__(MemoryLedger(), runner_id="test-runner")
        self.events: list[UsageEvent] = []

    def _add(self, event: UsageEvent) -> None:
        super()._add(event)
        self.events.append(event)


@pytest.fixture(scope="module")
def events(real_fixtures: Path) -> list[UsageEvent]:
    parser = CollectingParser()
    parser.parse_file(real_fixtures / TRANSCRIPT, "auto")
    return parser.events


def test_in_memory_one_row_per_response_summing_exactly(events: list[UsageEvent]) -> None:
    responses: dict[tuple[str, str | None, str | None], list[UsageEvent]] = defaultdict(list)
    for event in events:
        responses[(event.session_id, event.message_id, event.request_id)].append(event)
    assert len(responses) == 100
    assert sum(e.tokens.output_tokens for e in events) == 64_185
    assert sum((e.cost_usd for e in events), ZERO_USD) == COST
    for deltas in responses.values():
        for event in deltas:
            assert event.cost_split is not None and event.cost_split.total == event.cost_usd
    total = CostSplit(
        *(sum((getattr(e.cost_split, part) for e in events if e.cost_split), ZERO_USD) for part in PARTS)
    )
    assert total == SPLIT and total.total == COST


def test_report_messages_over_the_lake(events: list[UsageEvent], tmp_path: Path) -> None:
    write_usage_batch(tmp_path, "t.usage", 0, list(enumerate(events)))
    report = build_report(tmp_path, "messages")
    assert len(report.rows) == 100
    assert {row.keys["session_id"] for row in report.rows} == {SESSION}
    assert sum(1 for row in report.rows if row.keys["request_id"] is None) == 1
    for row in report.rows:
        parts = sum((getattr(row.totals, f"{part}_cost_usd") for part in PARTS), ZERO_USD)
        assert parts == row.totals.cost_usd and row.totals.unsplit_cost_usd == 0
    totals = report.totals
    assert (totals.output_tokens, totals.cost_usd) == (64_185, COST)
    assert (totals.input_tokens, totals.cache_read_tokens, totals.cache_write_5m_tokens) == (
        2_016,
        10_172_221,
        622_125,
    )
    assert (
        totals.input_cost_usd,
        totals.output_cost_usd,
        totals.cache_read_cost_usd,
        totals.cache_write_cost_usd,
    ) == (SPLIT.input, SPLIT.output, SPLIT.cache_read, SPLIT.cache_write)
    # Seed 003: cache_read / (input + cache_read); overhead: cache-write cost / cost.
    assert totals.cache_hit_ratio == Decimal("0.9998")
    assert totals.cache_write_overhead == Decimal("0.3672")
    assert build_report(tmp_path, "messages", session=SESSION).totals == totals
    assert build_report(tmp_path, "messages", session="another").rows == []


def test_report_messages_json_through_the_cli(
    events: list[UsageEvent],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_usage_batch(tmp_path, "t.usage", 0, list(enumerate(events)))
    monkeypatch.setenv("SPENDSTREAM_DATA_DIR", str(tmp_path))
    assert main(["report", "messages", "--session", SESSION, "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 100
    assert sum(Decimal(row["cost_usd"]) for row in out["rows"]) == COST
    assert sum(row["output_tokens"] for row in out["rows"]) == 64_185
    for row in out["rows"]:
        assert row["message_id"].startswith("msg_")
        split = [Decimal(row[f"{part}_cost_usd"]) for part in PARTS]
        assert sum(split) == Decimal(row["cost_usd"])
        assert Decimal(row["cache_write_cost_usd"]) == split[3] + split[4]
    assert (out["totals"]["cache_hit_ratio"], out["totals"]["cache_write_overhead"]) == ("0.9998", "0.3672")


def test_report_messages_from_the_transcript_file_no_broker(
    real_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14 (a): ``report messages --from`` on the real transcript: one row per API response."""
    monkeypatch.setenv("SPENDSTREAM_DATA_DIR", str(tmp_path / "no-lake"))
    transcript = real_fixtures / "claude-transcript"
    assert main(["report", "messages", "--from", str(transcript), "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 100
    assert sum(Decimal(row["cost_usd"]) for row in out["rows"]) == COST
    assert sum(row["output_tokens"] for row in out["rows"]) == 64_185
    for row in out["rows"]:
        assert sum(Decimal(row[f"{part}_cost_usd"]) for part in PARTS) == Decimal(row["cost_usd"])
    assert out["totals"]["cost_usd"] == "10.58909675"
