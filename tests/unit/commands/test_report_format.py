"""``report --format line|csv``: compact token counts, dollars, the line per group (no broker)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.unpriced import UnpricedTally
from sinks.reports import Report, ReportRow, Totals
from spendstream.report_format import compact_tokens, dollars, render_csv, render_lines, summary_line


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (900, "900"),
        (999, "999"),
        (1_000, "1.0k"),
        (1_049, "1.0k"),
        (1_050, "1.1k"),  # half up
        (3_000, "3.0k"),
        (45_200, "45.2k"),
        (45_250, "45.3k"),
        (999_949, "999.9k"),
        (999_950, "1.0M"),  # rounds to 1000.0k: the next unit
        (1_000_000, "1.0M"),
        (2_500_000, "2.5M"),
        (999_950_000, "1.0B"),
        (1_234_567_890_123, "1.2T"),
        (10**16, "10000.0T"),  # past the last unit, it keeps growing
    ],
)
def test_compact_tokens(count: int, text: str) -> None:
    assert compact_tokens(count) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0.21", "$0.21"),
        ("0", "$0.00"),
        ("0.004999999999", "$0.00"),
        ("0.005", "$0.01"),  # half up
        ("0.205", "$0.21"),
        ("1234.567", "$1,234.57"),
        ("0.3000000000001", "$0.30"),
    ],
)
def test_dollars_to_the_cent(amount: str, text: str) -> None:
    assert dollars(Decimal(amount)) == text


def test_summary_line_counts_every_prompt_token_as_in() -> None:
    totals = Totals(
        events=2,
        input_tokens=200,
        cache_read_tokens=45_000,
        cache_write_5m_tokens=0,
        output_tokens=12_100,
        cost_usd=Decimal("0.21"),
    )
    assert summary_line("Developer", totals) == "Developer · 45.2k in / 12.1k out · $0.21"


def label_report(
    *rows: tuple[str | None, int, int, str], unpriced: dict[str | None, int] | None = None
) -> Report:
    tally = UnpricedTally()
    tally.merge(unpriced or {})
    return Report(
        "label",
        None,
        None,
        ("label", "sessions", "cost_sources"),
        [
            ReportRow(
                {"label": name, "sessions": 1, "cost_sources": ["reported"]},
                Totals(events=1, input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=Decimal(cost)),
            )
            for name, tokens_in, tokens_out, cost in rows
        ],
        tally,
        label_key="agent",
    )


def test_line_format_is_the_total_then_one_capitalised_line_per_group() -> None:
    report = label_report(
        ("developer", 45_200, 12_100, "0.21"), ("reviewer", 12_100, 3_100, "0.09"), ("QA lead", 0, 0, "0")
    )
    assert render_lines(report) == (
        "Total · 57.3k in / 15.2k out · $0.30\n"
        "Developer · 45.2k in / 12.1k out · $0.21\n"
        "Reviewer · 12.1k in / 3.1k out · $0.09\n"
        "QA lead · 0 in / 0 out · $0.00\n"
    )


def test_line_format_names_the_unlabelled_group_and_keeps_the_unpriced_footer() -> None:
    report = label_report((None, 900, 9, "0"), unpriced={"gpt-9": 1})
    assert render_lines(report).splitlines() == [
        "Total · 900 in / 9 out · $0.00",
        "(no agent) · 900 in / 9 out · $0.00",
        "1 event unpriced: gpt-9",
    ]


def test_csv_has_json_field_names_exact_decimals_and_no_total_row() -> None:
    report = label_report(("developer", 45_200, 12_100, "0.210000000000"), (None, 1, 2, "0.3"))
    lines = render_csv(report).splitlines()
    assert lines[0].startswith("label,sessions,cost_sources,events,input_tokens,output_tokens,")
    assert lines[1].startswith("developer,1,reported,1,45200,12100,") and ",0.21," in lines[1]
    assert lines[2].startswith(",1,reported,1,1,2,")
    assert len(lines) == 3
