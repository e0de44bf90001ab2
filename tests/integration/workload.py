"""A synthetic multi-tree fleet workload with known exact totals.

Trees of depth 3 (root -> children -> grandchildren); every scope runs several
``claude -p --output-format json`` results. The workload is published with duplicates of
both kinds (the same file twice = transport duplicates; the same lines from another
runner = semantic duplicates) and with bad lines, and the expected totals count each
result exactly once.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import orjson

from config.settings import Settings
from producers.publish import PublishRequest, publish

TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens")


@dataclass
class ScopeExpectation:
    own_tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))
    own_cost: Decimal = Decimal(0)
    own_events: int = 0
    subtree_tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))
    subtree_cost: Decimal = Decimal(0)
    children: int = 0


@dataclass
class ScopeRun:
    scope: str
    lineage: tuple[str, ...]
    lines: list[bytes]


@dataclass
class Workload:
    runs: list[ScopeRun]
    expected: dict[str, ScopeExpectation]
    bad_lines: list[bytes]

    @property
    def total_cost(self) -> Decimal:
        return sum((e.own_cost for e in self.expected.values()), Decimal(0))


def result_line(session: str, run_uuid: str, rng: random.Random) -> tuple[bytes, dict[str, int], Decimal]:
    usage = {
        "input_tokens": rng.randint(1, 5000),
        "output_tokens": rng.randint(1, 20000),
        "cache_read_input_tokens": rng.randint(0, 900_000),
        "cache_creation_input_tokens": rng.randint(0, 60_000),
    }
    cost = Decimal(rng.randint(1, 3_000_000)) / Decimal(10**7)
    line = orjson.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "SECRET-MODEL-OUTPUT do not leak",
            "session_id": session,
            "total_cost_usd": float(cost),
            "usage": usage,
            "uuid": run_uuid,
        }
    )
    tokens = {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cache_read_tokens": usage["cache_read_input_tokens"],
        "cache_write_5m_tokens": usage["cache_creation_input_tokens"],
    }
    return line, tokens, cost


def build_workload(
    seed: int, roots: int = 3, children: int = 2, grandchildren: int = 2, runs: int = 3
) -> Workload:
    rng = random.Random(seed)
    expected: dict[str, ScopeExpectation] = defaultdict(ScopeExpectation)
    scope_runs: list[ScopeRun] = []
    tag = f"{seed:x}"

    def add_scope(scope: str, lineage: tuple[str, ...]) -> None:
        if lineage:
            expected[lineage[-1]].children += 1
        lines = []
        for n in range(runs):
            line, tokens, cost = result_line(scope, f"{scope}-run-{n}", rng)
            lines.append(line)
            own = expected[scope]
            own.own_events += 1
            own.own_cost += cost
            for name, value in tokens.items():
                own.own_tokens[name] += value
            for target in (*lineage, scope):
                exp = expected[target]
                exp.subtree_cost += cost
                for name, value in tokens.items():
                    exp.subtree_tokens[name] += value
        scope_runs.append(ScopeRun(scope, lineage, lines))

    for r in range(roots):
        root = f"root-{tag}-{r}"
        add_scope(root, ())
        for c in range(children):
            child = f"{root}.c{c}"
            add_scope(child, (root,))
            for g in range(grandchildren):
                add_scope(f"{child}.g{g}", (root, child))
    bad = [b"{not json", b'{"type":"result","session_id":"x"}', b"\xff\xfe binary", b"[1,2,3]"]
    return Workload(scope_runs, dict(expected), bad)


async def publish_workload(settings: Settings, workload: Workload, folder: Path) -> int:
    """Publish every run (twice from this runner, once more from another) plus bad lines."""
    folder.mkdir(parents=True, exist_ok=True)
    published = 0
    for index, run in enumerate(workload.runs):
        path = folder / f"run-{index}.jsonl"
        lines = list(run.lines)
        if index % 3 == 0:
            lines.insert(1, workload.bad_lines[index % len(workload.bad_lines)])
        path.write_bytes(b"\n".join(lines) + b"\n")
        request = PublishRequest(paths=(str(path),), source="claude-json", lineage=run.lineage)
        published += (await publish(settings, request)).lines
        if index % 2 == 0:  # transport duplicate: the same stream and positions again
            published += (await publish(settings, request)).lines
        if index % 4 == 1:  # semantic duplicate: the same results from another runner
            other = settings.model_copy(update={"runner_id": "other-runner"})
            published += (await publish(other, request)).lines
    return published


def expected_totals_view(workload: Workload) -> dict[str, tuple[object, ...]]:
    """Per scope: (subtree cost, subtree tokens..., own cost, own events, children)."""
    return {
        scope: (
            exp.subtree_cost,
            *(exp.subtree_tokens[t] for t in TOKENS),
            exp.own_cost,
            exp.own_events,
            exp.children,
        )
        for scope, exp in workload.expected.items()
    }
