"""Run raw lines through a parser and the ledger, the way the worker does, in memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.ledger import MemoryLedger
from schemas.money import ZERO_USD
from schemas.pricing import CostMode
from schemas.sources import PARSERS, LineContext, Observation
from schemas.usage import TokenCounts, UsageEvent

PUBLISHED = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


def context(
    fmt: str,
    position: int = 1,
    *,
    stream: str = "stream-1",
    lineage: tuple[str, ...] = (),
    labels: Mapping[str, str] | None = None,
    session_hint: str | None = None,
) -> LineContext:
    return LineContext(
        source=fmt,
        runner_id="runner-1",
        stream_id=stream,
        position=position,
        published_at=PUBLISHED,
        lineage=lineage,
        session_hint=session_hint,
        labels=labels or {},
    )


def fixture_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def parse_stream(
    fmt: str, lines: Iterable[bytes], *, stream: str = "stream-1", **ctx: Any
) -> list[tuple[Observation, LineContext]]:
    """Every observation of ``lines`` with its context, threading the parser state."""
    state: Any = None
    out: list[tuple[Observation, LineContext]] = []
    for position, line in enumerate(lines, 1):
        ctx_ = context(fmt, position, stream=stream, **ctx)
        observations, state = PARSERS[fmt](line, ctx_, state)
        out.extend((obs, ctx_) for obs in observations)
    return out


def account(
    pairs: Iterable[tuple[Observation, LineContext]],
    ledger: MemoryLedger | None = None,
    *,
    mode: CostMode = "reported",
) -> list[UsageEvent]:
    ledger = ledger or MemoryLedger(mode=mode)
    events = [ledger.observe(obs, ctx) for obs, ctx in pairs]
    return [e for e in events if e is not None]


def total_tokens(events: Iterable[UsageEvent]) -> TokenCounts:
    total = TokenCounts()
    for event in events:
        total = total + event.tokens
    return total


def total_cost(events: Iterable[UsageEvent]) -> Decimal:
    return sum((e.cost_usd for e in events), ZERO_USD)


def run(fmt: str, lines: Iterable[bytes], *, mode: CostMode = "reported", **ctx: Any) -> list[UsageEvent]:
    return account(parse_stream(fmt, lines, **ctx), mode=mode)
