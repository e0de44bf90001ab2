"""A user's price file over the bundled table, and the reported-vs-computed disagreement test."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from schemas.pricing import PricingError, cost_disagrees, default_price_table, load_price_table
from schemas.usage import TokenCounts

OPUS_ENTRY = {
    "input": "4",
    "output": "20",
    "cache_write_5m": "5",
    "cache_write_1h": "8",
    "cache_read": "0.40",
}
ONE_M_IN = TokenCounts(input_tokens=1_000_000)


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "prices.json"
    path.write_bytes(orjson.dumps(doc))
    return path


def test_no_file_is_the_bundled_table() -> None:
    assert load_price_table(None) is default_price_table()


def test_user_models_replace_and_extend_the_bundled_table(tmp_path: Path) -> None:
    new = {"input": "2", "output": "8", "cache_write_5m": "2", "cache_write_1h": "2", "cache_read": "0.2"}
    path = write(
        tmp_path,
        {
            "as_of": "2026-12-01",
            "models": {"claude-opus-4-5": OPUS_ENTRY, "my-model": new},
            "aliases": {"mine": "my-model"},
        },
    )
    table = load_price_table(path)
    assert table.cost(ONE_M_IN, "claude-opus-4-5-20251101") == Decimal(4)
    assert table.cost(ONE_M_IN, "mine") == Decimal(2)
    assert table.cost(ONE_M_IN, "claude-sonnet-4-5") == Decimal(3)  # untouched bundled entry
    assert table.cost(ONE_M_IN, "claude-opus-4-0") == Decimal(15)  # bundled alias still resolves
    assert table.as_of == "2026-12-01"
    assert default_price_table().cost(ONE_M_IN, "claude-opus-4-5") == Decimal(5)  # bundled table unchanged


def test_aliases_only_file(tmp_path: Path) -> None:
    table = load_price_table(write(tmp_path, {"aliases": {"opus": "claude-opus-4-5"}}))
    assert table.cost(ONE_M_IN, "opus") == Decimal(5)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "expected an object"),
        ({"notes": []}, "expected an object"),
        ({"models": []}, "'models' must be an object"),
        ({"models": {"x": {"input": "1"}}}, "x: missing output"),
        ({"models": {"x": {**OPUS_ENTRY, "input": 1.5}}}, "x.input must be a non-negative decimal string"),
        ({"models": {"x": {**OPUS_ENTRY, "input": "-1"}}}, "x.input must be a non-negative decimal string"),
        ({"models": {"Claude-X-20250101": OPUS_ENTRY}}, "canonical model name"),
        ({"aliases": {"a": "nowhere"}}, "alias a points to unknown model nowhere"),
        ({"aliases": {"a": ["claude-opus-4-5"]}}, "alias a points to unknown model"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, doc: object, message: str) -> None:
    path = write(tmp_path, doc)
    with pytest.raises(PricingError, match=message) as caught:
        load_price_table(path)
    assert str(path) in str(caught.value)


def test_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="cannot read the price file"):
        load_price_table(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PricingError, match="not JSON"):
        load_price_table(broken)


# Opus 4.5: 1M input tokens cost exactly $5 at list price.
@pytest.mark.parametrize(
    ("reported", "model", "disagrees"),
    [
        (Decimal(5), "claude-opus-4-5", False),
        (Decimal("5.05"), "claude-opus-4-5", False),  # 0.05 / 5.05 < 1%
        (Decimal("5.06"), "claude-opus-4-5", True),  # 0.06 / 5.06 > 1%
        (Decimal("4.95"), "claude-opus-4-5", False),  # exactly 1% of the larger: not more
        (Decimal("4.949999"), "claude-opus-4-5", True),
        (Decimal(0), "claude-opus-4-5", True),
        (None, "claude-opus-4-5", False),  # nothing reported
        (Decimal(1), "unknown-model", False),  # nothing to compare with
        (Decimal(1), None, False),
    ],
)
def test_cost_disagrees(reported: Decimal | None, model: str | None, disagrees: bool) -> None:
    assert cost_disagrees(ONE_M_IN, model, reported, default_price_table()) is disagrees


def test_zero_against_zero_agrees() -> None:
    assert cost_disagrees(TokenCounts(), "claude-opus-4-5", Decimal(0), default_price_table()) is False
