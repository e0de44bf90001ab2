"""Generate a large, realistic Claude Code history and the per-session totals it holds.

Run: ``python -m bench.gen_history OUT --target 1G [--seed 7]``. Writes
``OUT/projects/<project>/<session>.jsonl`` (the layout of ``~/.claude``, so ``OUT`` works as
``CLAUDE_CONFIG_DIR``), subagent files ``OUT/projects/<project>/<session>/subagents/
agent-<id>.jsonl``, and ``OUT/expected.json``: per session (subagents included) the exact
tokens by type and the cost computed with schemas/pricing.py, as the generator meant them.

Shaped like the real transcript in ../shared/fixtures/real/claude-transcript (Claude Code
2.0.76): ``user`` lines (prompts and large tool results), ``assistant`` lines with
``message.id``, ``requestId`` and ``usage`` including ``cache_creation`` split into
``ephemeral_5m``/``ephemeral_1h``; one API response is written as one line per content
block (thinking, text, tool_use), all with the same ids, input and cache counts repeated
and ``output_tokens`` growing to the final count on the last line; plus ``system`` and
``file-history-snapshot`` lines. Quirks at low rates, so the comparison shows how tools
treat them: responses without ``requestId``, ``<synthetic>`` error placeholders, paid
web searches. The same seed and target give byte-identical output.
"""

from __future__ import annotations

import argparse
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from schemas.money import ZERO_USD, usd_str
from schemas.pricing import PriceTable, default_price_table
from schemas.usage import TokenCounts

MAIN_MODELS = ("claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929")
SUBAGENT_MODEL = "claude-haiku-4-5-20251001"
VERSION = "2.0.76"
START = datetime(2025, 11, 3, 8, 0, tzinfo=UTC)
TOKEN_KEYS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "web_search")
_TEXT = (
    "the function returns a list of files that match the pattern and the test checks each one "
    "refactor parser module to stream lines instead of loading the whole file into memory "
    "because offsets must be committed only after the sink wrote the parquet file durably "
    "grep -n def src tests read the config then update the schema version and run pytest again"
)
_WORDS = tuple(_TEXT.split())


@dataclass
class Quirks:
    """Rates of the less common shapes (per response, or per session for 1h caching)."""

    missing_request_id: float = 0.002
    synthetic_error: float = 0.003
    web_search: float = 0.01
    one_hour_cache_sessions: float = 0.3
    subagents_per_session: float = 0.6


@dataclass
class Expected:
    """What the generator wrote: counts and exact cost per session (subagents included)."""

    tokens: dict[str, TokenCounts] = field(default_factory=dict)
    costs: dict[str, Decimal] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    size: int = 0
    files: int = 0

    def add(self, session: str, tokens: TokenCounts, cost: Decimal) -> None:
        self.tokens[session] = self.tokens.get(session, TokenCounts()) + tokens
        self.costs[session] = self.costs.get(session, ZERO_USD) + cost
        self.responses[session] = self.responses.get(session, 0) + 1

    def to_json(self, seed: int, target: int) -> bytes:
        sessions = {
            sid: {
                "project": self.projects[sid],
                "responses": self.responses.get(sid, 0),
                **token_dict(self.tokens.get(sid, TokenCounts())),
                "cost_usd": usd_str(self.costs.get(sid, ZERO_USD)),
            }
            for sid in sorted(self.projects)
        }
        total = TokenCounts()
        for tokens in self.tokens.values():
            total = total + tokens
        document = {
            "seed": seed,
            "target_bytes": target,
            "files": self.files,
            "lines": self.lines,
            "bytes": self.size,
            "sessions": sessions,
            "totals": {**token_dict(total), "cost_usd": usd_str(sum(self.costs.values(), ZERO_USD))},
        }
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def token_dict(tokens: TokenCounts) -> dict[str, int]:
    return {
        "input": tokens.input_tokens,
        "output": tokens.output_tokens,
        "cache_read": tokens.cache_read_tokens,
        "cache_write_5m": tokens.cache_write_5m_tokens,
        "cache_write_1h": tokens.cache_write_1h_tokens,
        "web_search": tokens.web_search_requests,
    }


class TextPool:
    """Cheap realistic filler: slices of one long pseudo-text (generating 1 GB char by char is slow)."""

    def __init__(self, rng: random.Random) -> None:
        self.text = " ".join(rng.choice(_WORDS) for _ in range(400_000))
        self.rng = rng

    def take(self, size: int) -> str:
        start = self.rng.randrange(0, len(self.text) - size - 1)
        return self.text[start : start + size]


def _id(rng: random.Random, prefix: str, size: int = 24) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(size))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class SessionWriter:
    """Writes one transcript file (a session, or one of its subagents) line by line."""

    rng: random.Random
    pool: TextPool
    prices: PriceTable
    quirks: Quirks
    expected: Expected
    session_id: str
    project_dir: str
    clock: datetime
    agent_id: str | None = None
    one_hour: bool = False
    out: list[bytes] = field(default_factory=list)
    parent_uuid: str | None = None

    def _base(self, kind: str) -> dict[str, Any]:
        line_uuid = _uuid(self.rng)
        base: dict[str, Any] = {
            "parentUuid": self.parent_uuid,
            "isSidechain": self.agent_id is not None,
            "userType": "external",
            "cwd": "/home/dev/" + self.project_dir.rsplit("-", 1)[-1],
            "sessionId": self.session_id,
            "version": VERSION,
            "gitBranch": "main",
        }
        if self.agent_id is not None:
            base["agentId"] = self.agent_id
        base["type"] = kind
        base["uuid"] = line_uuid
        self.clock += timedelta(milliseconds=self.rng.randint(300, 40_000))
        base["timestamp"] = _stamp(self.clock)
        self.parent_uuid = line_uuid
        return base

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.append(orjson.dumps(obj))

    def user(self, tool_result: bool) -> None:
        line = self._base("user")
        if tool_result:
            content: Any = [
                {
                    "tool_use_id": _id(self.rng, "toolu_01"),
                    "type": "tool_result",
                    "content": self.pool.take(self.rng.choice((300, 1500, 4000, 9000))),
                }
            ]
            line["toolUseResult"] = {"stdout": self.pool.take(200), "stderr": "", "interrupted": False}
        else:
            content = self.pool.take(self.rng.randint(40, 600))
        line["message"] = {"role": "user", "content": content}
        self._write(line)

    def system(self) -> None:
        line = self._base("system")
        line.update({"subtype": "local_command", "content": self.pool.take(120), "level": "info"})
        self._write(line)

    def snapshot(self) -> None:
        self._write(
            {
                "type": "file-history-snapshot",
                "messageId": _uuid(self.rng),
                "snapshot": {"trackedFileBackups": {}, "timestamp": _stamp(self.clock)},
                "isSnapshotUpdate": False,
            }
        )

    def response(self, model: str) -> None:
        """One API response: a line per content block, output growing to its final count."""
        rng, quirks = self.rng, self.quirks
        if rng.random() < quirks.synthetic_error:
            line = self._base("assistant")
            line["isApiErrorMessage"] = True
            line["message"] = {
                "id": _uuid(rng), "model": "<synthetic>", "role": "assistant", "type": "message",
                "content": [{"type": "text", "text": "API Error: 529 overloaded"}],
                "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0},
            }  # fmt: skip
            self._write(line)
            return
        message_id, request_id = _id(rng, "msg_01"), _id(rng, "req_011C")
        with_request_id = rng.random() >= quirks.missing_request_id
        cache_write = rng.choice((0, 0, rng.randint(200, 3000), rng.randint(3000, 30000)))
        write_1h = cache_write if self.one_hour and rng.random() < 0.8 else 0
        final_output = int(rng.lognormvariate(5.5, 1.2)) + 1
        searches = 1 if rng.random() < quirks.web_search else 0
        tokens = TokenCounts(
            input_tokens=rng.randint(1, 60),
            output_tokens=min(final_output, 32_000),
            cache_read_tokens=rng.randint(8_000, 180_000),
            cache_write_5m_tokens=cache_write - write_1h,
            cache_write_1h_tokens=write_1h,
            web_search_requests=searches,
        )
        blocks = rng.choice((("text",), ("thinking", "text"), ("thinking", "tool_use"),
                             ("text", "tool_use"), ("thinking", "text", "tool_use", "tool_use")))  # fmt: skip
        for index, block in enumerate(blocks):
            last = index == len(blocks) - 1
            output = tokens.output_tokens if last else min(tokens.output_tokens, rng.randint(1, 12))
            usage: dict[str, Any] = {
                "input_tokens": tokens.input_tokens,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": tokens.cache_read_tokens,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": tokens.cache_write_5m_tokens,
                    "ephemeral_1h_input_tokens": tokens.cache_write_1h_tokens,
                },
                "output_tokens": output,
                "service_tier": "standard",
            }
            if searches:
                usage["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": 0}
            line = self._base("assistant")
            line["message"] = {
                "model": model, "id": message_id, "type": "message", "role": "assistant",
                "content": [self._block(block)], "stop_reason": "tool_use" if block == "tool_use" else None,
                "stop_sequence": None, "usage": usage,
            }  # fmt: skip
            if with_request_id:
                line["requestId"] = request_id
            self._write(line)
        cost = self.prices.cost(tokens, model)
        assert cost is not None, model
        self.expected.add(self.session_id, tokens, cost)

    def _block(self, kind: str) -> dict[str, Any]:
        rng = self.rng
        if kind == "thinking":
            return {"type": "thinking", "thinking": self.pool.take(rng.randint(200, 2500)),
                    "signature": _id(rng, "Eo", rng.randint(200, 1200))}  # fmt: skip
        if kind == "tool_use":
            path = "/home/dev/src/" + self.pool.take(20).replace(" ", "_")
            name = rng.choice(("Read", "Bash", "Edit"))
            return {
                "type": "tool_use",
                "id": _id(rng, "toolu_01"),
                "name": name,
                "input": {"file_path": path},
            }
        return {"type": "text", "text": self.pool.take(rng.randint(40, 1200))}


def _session(
    rng: random.Random, pool: TextPool, prices: PriceTable, quirks: Quirks, expected: Expected,
    project_dir: Path, clock: datetime,
) -> tuple[list[tuple[Path, list[bytes]]], datetime]:  # fmt: skip
    """One session's files: the main transcript and its subagents'."""
    session_id = _uuid(rng)
    expected.projects[session_id] = project_dir.name
    one_hour = rng.random() < quirks.one_hour_cache_sessions
    model = rng.choice(MAIN_MODELS)
    main = SessionWriter(
        rng, pool, prices, quirks, expected, session_id, project_dir.name, clock, None, one_hour
    )
    main.snapshot()
    files: list[tuple[Path, list[bytes]]] = []
    for turn in range(rng.randint(5, 60)):
        main.user(tool_result=turn > 0 and rng.random() < 0.7)
        for _ in range(rng.randint(1, 3)):
            main.response(model)
        if rng.random() < 0.05:
            main.system()
        if rng.random() < quirks.subagents_per_session / 10:
            agent_id = f"{rng.getrandbits(32):08x}"
            sub = SessionWriter(rng, pool, prices, quirks, expected, session_id, project_dir.name,
                                main.clock, agent_id, one_hour)  # fmt: skip
            for _ in range(rng.randint(2, 15)):
                sub.user(tool_result=True)
                sub.response(SUBAGENT_MODEL)
            files.append((project_dir / session_id / "subagents" / f"agent-{agent_id}.jsonl", sub.out))
    files.insert(0, (project_dir / f"{session_id}.jsonl", main.out))
    return files, main.clock + timedelta(minutes=rng.randint(5, 600))


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 150M, 1G)")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2).upper()]
    return int(float(match.group(1)) * scale)


def generate(out: Path, target_bytes: int, seed: int = 7, quirks: Quirks | None = None) -> Expected:
    """Write sessions under ``out/projects`` until ``target_bytes`` are written; returns the truth."""
    rng = random.Random(seed)
    quirks = quirks or Quirks()
    prices = default_price_table()
    pool = TextPool(random.Random(seed + 1))
    expected = Expected()
    projects = [
        out / "projects" / f"-home-dev-{name}" for name in ("api", "web", "infra", "ml", "cli", "docs")
    ]
    clock = START
    while expected.size < target_bytes:
        files, clock = _session(rng, pool, prices, quirks, expected, rng.choice(projects), clock)
        for path, lines in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = b"\n".join(lines) + b"\n"
            path.write_bytes(data)
            expected.files += 1
            expected.lines += len(lines)
            expected.size += len(data)
    (out / "expected.json").write_bytes(expected.to_json(seed, target_bytes))
    return expected


def run_cli(doc: str | None, make: Callable[[Path, int, int], Expected], default_target: str) -> None:
    """The command line of a history generator: ``OUT [--target SIZE] [--seed N]``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write (used as CLAUDE_CONFIG_DIR)")
    parser.add_argument(
        "--target", type=parse_size, default=parse_size(default_target), help="size, e.g. 150M, 1G"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    expected = make(args.out, args.target, args.seed)
    print(
        f"wrote {expected.files} files, {expected.lines} lines, {expected.size / 2**20:.1f} MiB, "
        f"{len(expected.projects)} sessions to {args.out}/projects; truth in {args.out}/expected.json"
    )


def main() -> None:
    run_cli(__doc__, generate, "100M")


if __name__ == "__main__":
    main()
