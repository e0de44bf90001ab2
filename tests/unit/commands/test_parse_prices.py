"""``parse`` prices every current model exactly, at its event date, and never silently zero.

Lines are crafted Codex rollout lines (``session_meta``, ``turn_context`` naming the model,
``event_msg`` token counts): the format carries any model name, a timestamp and tokens.
Usage per file: 100,000 input tokens of which 20,000 cached, 10,000 output, so the cost is
0.08 x input + 0.02 x cache read + 0.01 x output (prices per million).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from spendstream.cli import main

USAGE = {"input_tokens": 100_000, "cached_input_tokens": 20_000, "output_tokens": 10_000}


def rollout(path: Path, model: str | None, when: str = "2026-11-20T10:00:00Z", session: str = "s-1") -> Path:
    lines: list[dict[str, Any]] = [{"timestamp": when, "type": "session_meta", "payload": {"id": session}}]
    if model is not None:
        lines.append({"timestamp": when, "type": "turn_context", "payload": {"model": model}})
    token_count = {"type": "token_count", "info": {"total_token_usage": USAGE}}
    lines.append({"timestamp": when, "type": "event_msg", "payload": token_count})
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


def parse(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    assert main(["parse", "--format", "codex-json", "--json", *args]) == 0
    captured = capsys.readouterr()
    document: dict[str, Any] = orjson.loads(captured.out)
    return document, captured.err


@pytest.mark.parametrize(
    ("model", "cost"),
    [
        ("claude-opus-4-8", "0.66"),  # 5 / 0.50 / 25
        ("claude-sonnet-5", "0.264"),  # 2 / 0.20 / 10
        ("gpt-5.4", "0.355"),  # 2.50 / 0.25 / 15
        ("gpt-5.5", "0.71"),  # 5 / 0.50 / 30
        ("gpt-5.3-codex", "0.2835"),  # 1.75 / 0.175 / 14
        ("gemini-3-pro-preview", "0.284"),  # 2 / 0.20 / 12
        ("gemini-3.1-pro-preview", "0.284"),  # 2 / 0.20 / 12
    ],
)
def test_current_models_are_priced_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, cost: str
) -> None:
    out, err = parse(capsys, str(rollout(tmp_path / "r.jsonl", model)))
    assert Decimal(out["totals"]["cost_usd"]) == Decimal(cost)
    assert out["sessions"][0]["cost_sources"] == ["computed"]
    assert out["unpriced_models"] == [] and out["unpriced_events"] == 0
    assert err == ""


@pytest.mark.parametrize(
    ("when", "cost"), [("2025-06-09T23:59:59Z", "1.21"), ("2025-06-10T00:00:00Z", "0.25")]
)
def test_an_event_is_priced_at_the_price_in_force_at_its_event_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], when: str, cost: str
) -> None:
    # o3: $10 / $0.50 / $40 until OpenAI's cut on 2025-06-10 (UTC), then $2 / $0.50 / $8.
    out, _ = parse(capsys, str(rollout(tmp_path / "r.jsonl", "o3", when)))
    assert Decimal(out["totals"]["cost_usd"]) == Decimal(cost)


def test_an_unknown_model_keeps_its_tokens_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(rollout(tmp_path / f"{i}.jsonl", "claude-imaginary-9", session=f"s-{i}")) for i in range(3)]
    out, err = parse(capsys, *files)
    assert out["totals"]["input_tokens"] == 3 * 80_000 and out["totals"]["cost_usd"] == "0.000000000000"
    assert (out["unpriced_events"], out["unpriced_models"]) == (3, ["claude-imaginary-9"])
    assert err.count("warning") == 1 and "'claude-imaginary-9' has no price" in err

    assert main(["parse", "--format", "codex-json", *files]) == 0
    text = capsys.readouterr()
    assert text.out.splitlines()[-1] == "3 events unpriced: claude-imaginary-9"
    assert "unpriced" in text.out.splitlines()[2]  # the session row's cost source


def test_a_codex_exec_run_is_priced_through_its_model_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exec_lines = tmp_path / "exec.jsonl"
    exec_lines.write_bytes(
        b'{"type":"thread.started","thread_id":"t-1"}\n'
        b'{"type":"turn.completed","usage":' + orjson.dumps(USAGE) + b"}\n"
    )
    out, err = parse(capsys, str(exec_lines))
    assert out["unpriced_models"] == ["(no model)"] and "--label model=" in err

    out, err = parse(capsys, "--label", "model=gpt-5.3-codex", str(exec_lines))
    assert Decimal(out["totals"]["cost_usd"]) == Decimal("0.2835")
    assert out["sessions"][0]["models"] == ["gpt-5.3-codex"] and err == ""


def test_a_bad_label_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["parse", "--label", "no-equals-sign", str(tmp_path)])
