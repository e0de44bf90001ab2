"""The unpriced tally: counts per model, one first-seen signal per model, footer and JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.money import ZERO_USD
from schemas.pricing import default_price_table
from schemas.unpriced import NO_MODEL, UnpricedTally, unpriced_warning
from schemas.usage import CostSource, TokenCounts, UsageEvent


def event(model: str | None, source: CostSource = "unpriced") -> UsageEvent:
    return UsageEvent(
        event_id="e",
        source="codex-json",
        runner_id="r",
        session_id="s",
        model=model,
        event_time=datetime(2026, 11, 1, tzinfo=UTC),
        tokens=TokenCounts(input_tokens=1),
        cost_usd=ZERO_USD,
        cost_source=source,
    )


def test_first_event_of_each_model_is_signalled_once() -> None:
    tally = UnpricedTally()
    firsts = [
        tally.add(event(m)) for m in ("claude-imaginary-9", "claude-imaginary-9", None, "claude-imaginary-9")
    ]
    assert firsts == [True, False, True, False]
    assert tally.add(event("gpt-5.5", "computed")) is False
    assert tally.counts == {"claude-imaginary-9": 3, NO_MODEL: 1}
    assert tally.footer() == "4 events unpriced: claude-imaginary-9, (no model)"
    assert tally.as_json() == {"unpriced_events": 4, "unpriced_models": ["claude-imaginary-9", NO_MODEL]}


def test_nothing_unpriced_has_no_footer() -> None:
    tally = UnpricedTally()
    assert tally.footer() is None and tally.as_json() == {"unpriced_events": 0, "unpriced_models": []}
    tally.merge({None: 1})
    assert tally.footer() == "1 event unpriced: (no model)"


def test_warnings_name_the_model_and_the_remedy() -> None:
    prices = default_price_table()
    assert "'claude-imaginary-9' has no price" in unpriced_warning("claude-imaginary-9", prices)
    assert "--label model=" in unpriced_warning(None, prices)
    assert "cost mode" in unpriced_warning("gpt-5.5", prices)
