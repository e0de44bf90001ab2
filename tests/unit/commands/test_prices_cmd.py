"""``spendstream prices``: the prices used, their source and date; unknown models listed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from spendstream.cli import main


def test_json_lists_prices_source_date_and_unknown_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["prices", "o3", "claude-sonnet-5", "claude-imaginary-9", "--json", "--at", "2025-06-09"]) == 0
    )
    out = orjson.loads(capsys.readouterr().out)
    o3, sonnet, unknown = out["models"]
    assert (o3["input"], o3["output"], o3["cache_read"], o3["since"]) == ("10", "40", "0.5", None)
    assert [p["since"] for p in o3["history"]] == [None, "2025-06-10"]
    assert o3["source"] == "genai-prices 0.2.3 (openai)"
    assert (sonnet["cache_write_5m"], sonnet["cache_write_1h"]) == ("2.5", "4")
    assert unknown == {"model": "claude-imaginary-9", "known": False}
    assert out["unknown_models"] == ["claude-imaginary-9"] and out["at"] == "2025-06-09"


def test_text_shows_tiers_and_the_date_in_force(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "gpt-5.4", "o3", "nope-1", "--at", "2026-11-23"]) == 0
    out = capsys.readouterr().out
    gpt, o3, nope = (
        next(line for line in out.splitlines() if line.startswith(m)) for m in ("gpt-5.4", "o3", "nope-1")
    )
    assert ">272,000: 5 22.5 0.5 5 5" in gpt and "2025-06-10" in o3 and nope.split() == ["nope-1", "unknown"]


def test_a_price_file_overrides_and_is_named_as_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.json"
    entry = {"input": "1", "output": "2", "cache_write_5m": "1", "cache_write_1h": "1", "cache_read": "0.1"}
    path.write_bytes(orjson.dumps({"models": {"my-model": entry}}))
    assert main(["prices", "my-model", "--json", "--prices", str(path)]) == 0
    mine = orjson.loads(capsys.readouterr().out)["models"][0]
    assert (mine["input"], mine["source"]) == ("1", str(path))
