from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from schemas.sources import BadLine
from schemas.sources.gemini_json import parse
from schemas.usage import TokenCounts

from ..support import context, run

FMT = "gemini-json"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini"


def document(name: str) -> bytes:
    # gemini-cli pretty-prints the document over many lines; it is published as one record
    return (FIXTURES / name).read_bytes()


def test_two_models_without_session_id() -> None:
    events = run(FMT, [document("two-models.json")])
    assert [(e.model, e.tokens, e.cost_usd, e.cost_source) for e in events] == [
        (
            "gemini-2.5-flash",
            TokenCounts(input_tokens=20_803, output_tokens=854, reasoning_tokens=138),
            Decimal("0.0083759"),
            "computed",
        ),
        (
            "gemini-2.5-pro",
            TokenCounts(
                input_tokens=13_745, cache_read_tokens=10_656, output_tokens=318, reasoning_tokens=103
            ),
            Decimal("0.02169325"),
            "computed",
        ),
    ]
    assert {e.session_id for e in events} == {"stream-1"}


def test_input_equals_the_cli_input_field_and_totals_match() -> None:
    for name in ("two-models.json", "with-session.json"):
        models = orjson.loads(document(name))["stats"]["models"]
        (observations, _) = parse(document(name), context(FMT), None)
        for o in observations:
            tokens = models[o.model]["tokens"]
            assert o.tokens.input_tokens == tokens["input"]
            assert o.tokens.total == tokens["total"]


def test_session_stats_are_cumulative_so_a_resumed_run_adds_its_growth() -> None:
    first = document("with-session.json")
    resumed = orjson.loads(first)
    tokens = resumed["stats"]["models"]["gemini-2.5-pro"]["tokens"]
    tokens.update(prompt=30_000, cached=25_000, candidates=50, thoughts=200, total=30_250)
    events = run(FMT, [first, orjson.dumps(resumed), first])
    assert [e.tokens for e in events] == [
        TokenCounts(input_tokens=3_676, cache_read_tokens=21_263, output_tokens=174, reasoning_tokens=154),
        TokenCounts(input_tokens=1_324, cache_read_tokens=3_737, output_tokens=76, reasoning_tokens=46),
    ]
    assert events[0].cost_usd == Decimal("0.008992875")
    assert {e.session_id for e in events} == {"5f0c3a8e-2d41-4f7a-9a55-0c1b2e3d4f60"}


def test_without_session_id_each_record_is_its_own_run() -> None:
    line = document("two-models.json")
    assert len(run(FMT, [line, line])) == 4  # two records (positions): two runs


def test_error_only_document_has_no_usage() -> None:
    assert parse(document("error-only.json"), context(FMT), None) == ([], None)


def test_tool_prompt_tokens_are_input() -> None:
    stats = {"models": {"gemini-2.5-flash": {"tokens": {"prompt": 10, "cached": 4, "tool": 5, "total": 15}}}}
    (o,), _ = parse(orjson.dumps({"stats": stats}), context(FMT), None)
    assert o.tokens == TokenCounts(input_tokens=11, cache_read_tokens=4)


@pytest.mark.parametrize(
    ("stats", "reason"),
    [
        ({"models": {"m": {"tokens": {"prompt": 1, "cached": 2}}}}, "cached exceeds prompt"),
        ({"models": {"m": {"tokens": {"prompt": 1, "candidates": 1, "total": 5}}}}, "total is not"),
        ({"models": {"m": "SECRET"}}, "stats.models entries"),
        ({"models": {"m": {"tokens": {"prompt": "SECRET"}}}}, "prompt"),
        ({"models": ["SECRET"]}, "models must be an object"),
        ("SECRET", "stats must be an object"),
    ],
)
def test_bad_documents(stats: object, reason: str) -> None:
    with pytest.raises(BadLine, match=reason) as caught:
        parse(orjson.dumps({"stats": stats}), context(FMT), None)
    assert "SECRET" not in caught.value.reason
