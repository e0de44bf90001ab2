"""The generated history is deterministic and its expected totals are what the ledger counts."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import orjson

from bench.gen_history import generate
from bench.spendstream_side import history_files, run_ledger


def digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in history_files(root):
        sha.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", 300_000, seed=3)
    generate(tmp_path / "b", 300_000, seed=3)
    generate(tmp_path / "c", 300_000, seed=4)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")
    assert (tmp_path / "a" / "expected.json").read_bytes() == (tmp_path / "b" / "expected.json").read_bytes()
    assert first.size >= 300_000 and first.lines == sum(
        len(p.read_bytes().splitlines()) for p in history_files(tmp_path / "a")
    )


def test_expected_totals_match_the_ledger(tmp_path: Path) -> None:
    generate(tmp_path, 600_000, seed=11)
    expected = orjson.loads((tmp_path / "expected.json").read_bytes())["sessions"]
    counted = run_ledger(tmp_path).sessions
    assert set(counted) == set(expected)
    for sid, want in expected.items():
        got = counted[sid]
        got_tokens = (got.input, got.output, got.cache_read, got.cache_write_5m, got.cache_write_1h)
        want_tokens = tuple(
            want[k] for k in ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
        )
        assert (got_tokens, got.web_search) == (want_tokens, want["web_search"]), sid
        assert got.cost == Decimal(want["cost_usd"])
    shapes = b"".join(p.read_bytes() for p in history_files(tmp_path))
    for needle in (b'"ephemeral_1h_input_tokens":', b'"requestId"', b'"agentId"', b'"type":"user"'):
        assert needle in shapes
    assert any("subagents" in str(p) for p in history_files(tmp_path))
