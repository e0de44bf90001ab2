"""A Claude Code history made of copies of the real transcript fixture, and the totals it holds.

Run: ``python -m bench.gen_fixture_history OUT --target 1G [--seed 7]``. Copies
``../shared/fixtures/real/claude-transcript/<session>.jsonl`` (a real Claude Code 2.0.76 session,
536 lines, 100 API responses) until ``target`` bytes are written, each copy under new ids:
every UUID (session, line and parent uuids), every ``msg_...`` and every ``req_...`` of the copy
is replaced by a fresh one of the same shape, so each copy is a distinct session of distinct
responses and the bytes are otherwise the real ones. Writes
``OUT/projects/<project>/<session>.jsonl`` (the layout of ``~/.claude``, so ``OUT`` works as
``CLAUDE_CONFIG_DIR``) and ``OUT/expected.json`` in bench/gen_history.py's format: every
session holds the fixture's totals, as ../shared/fixtures/real/SOURCES.md gives them.

The same seed and target give byte-identical output.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from pathlib import Path

from bench.gen_history import Expected, run_cli
from schemas.usage import TokenCounts

FIXTURE = (
    Path(__file__).resolve().parent.parent.parent
    / "shared"
    / "fixtures"
    / "real"
    / "claude-transcript"
    / "132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
)
FIXTURE_SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
# ../shared/fixtures/real/SOURCES.md: the session's totals under the one-response rule.
FIXTURE_TOKENS = TokenCounts(
    input_tokens=2_016,
    output_tokens=64_185,
    cache_read_tokens=10_172_221,
    cache_write_5m_tokens=622_125,
    cache_write_1h_tokens=0,
)
FIXTURE_COST = Decimal("10.58909675")
FIXTURE_RESPONSES = 100
PROJECTS = ("api", "web", "infra", "ml", "cli", "docs")

_IDS = re.compile(
    rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|msg_[0-9A-Za-z]{24}|req_[0-9A-Za-z]{24}"
)
_ALPHANUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Template:
    """The fixture split at its ids: literal chunks between numbered id slots."""

    def __init__(self, data: bytes) -> None:
        self.chunks: list[bytes] = []
        self.slots: list[int] = []
        self.ids: list[bytes] = []
        index: dict[bytes, int] = {}
        start = 0
        for match in _IDS.finditer(data):
            self.chunks.append(data[start : match.start()])
            self.slots.append(index.setdefault(match.group(), len(index)))
            start = match.end()
        self.chunks.append(data[start:])
        self.ids = sorted(index, key=index.__getitem__)

    def render(self, fresh: list[bytes]) -> bytes:
        parts: list[bytes] = []
        for chunk, slot in zip(self.chunks, self.slots, strict=False):
            parts.append(chunk)
            parts.append(fresh[slot])
        parts.append(self.chunks[-1])
        return b"".join(parts)


def _fresh(rng: random.Random, old: bytes) -> bytes:
    """A new id of ``old``'s shape."""
    if old.startswith((b"msg_", b"req_")):
        return old[:4] + "".join(rng.choice(_ALPHANUM) for _ in range(24)).encode()
    digits = f"{rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}".encode()


def generate(out: Path, target_bytes: int, seed: int = 7, fixture: Path = FIXTURE) -> Expected:
    """Write copies under ``out/projects`` until ``target_bytes`` are written; returns the truth."""
    rng = random.Random(seed)
    data = fixture.read_bytes()
    template = Template(data)
    session_slot = template.ids.index(FIXTURE_SESSION.encode())
    lines = data.count(b"\n")
    expected = Expected()
    while expected.size < target_bytes:
        fresh = [_fresh(rng, old) for old in template.ids]
        session = fresh[session_slot].decode()
        project = f"-home-dev-{rng.choice(PROJECTS)}"
        path = out / "projects" / project / f"{session}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = template.render(fresh)
        path.write_bytes(body)
        expected.projects[session] = project
        expected.tokens[session] = FIXTURE_TOKENS
        expected.costs[session] = FIXTURE_COST
        expected.responses[session] = FIXTURE_RESPONSES
        expected.files += 1
        expected.lines += lines
        expected.size += len(body)
    (out / "expected.json").write_bytes(expected.to_json(seed, target_bytes))
    return expected


def main() -> None:
    run_cli(__doc__, generate, "1G")


if __name__ == "__main__":
    main()
