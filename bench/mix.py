"""The benchmark's workload: a realistic mix of sources, as live or as backfill raw records.

Most lines come from a generated Claude Code history (bench/gen_history.py: transcripts
with streaming duplicates, subagents, web searches); the real captures under
``/work/shared/fixtures/real`` (claude-json, claude-stream-json, codex-exec-json and a real
transcript) are added ``fixture_copies`` times each, under distinct stream ids, as if many
runners had produced them; identical copies are semantic duplicates the ledger must drop.

Live traffic is one line per record, streams interleaved round-robin (many sessions
writing at once). Backfill traffic is what ``spendstream publish`` sends: consecutive lines
of one file packed into records of up to 500 lines / 512 KiB (``ss-lines``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.gen_history import generate
from bench.kafka_tools import RawRecord
from producers.packing import DEFAULT_PACK_BYTES, DEFAULT_PACK_LINES
from schemas.raw import encode_record
from schemas.sources import LineContext

FIXTURES = Path("/work/shared/fixtures/real")
RUNNER = "bench"
# Fixture folders named after the CLI command; the worker knows the format by this name.
FORMAT_OF_FOLDER = {"codex-exec-json": "codex-json"}


@dataclass(frozen=True)
class Stream:
    source: str
    stream_id: str
    lines: list[tuple[int, bytes]]  # (1-based position, line) of the non-blank lines


@dataclass(frozen=True)
class Workload:
    streams: list[Stream]
    generated_bytes: int

    @property
    def lines(self) -> int:
        return sum(len(s.lines) for s in self.streams)

    def by_source(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for stream in self.streams:
            counts[stream.source] = counts.get(stream.source, 0) + len(stream.lines)
        return counts


def _numbered(data: bytes) -> list[tuple[int, bytes]]:
    return [(n, line) for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]


def build(history_dir: Path, history_bytes: int, fixture_copies: int, seed: int = 7) -> Workload:
    """Generate the history under ``history_dir`` and describe every stream of the mix."""
    expected = generate(history_dir, history_bytes, seed)
    streams = [
        Stream("claude-transcript", f"{RUNNER}:{path.relative_to(history_dir)}", _numbered(path.read_bytes()))
        for path in sorted((history_dir / "projects").rglob("*.jsonl"))
    ]
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            lines = _numbered(path.read_bytes())
            for copy in range(fixture_copies):
                streams.append(
                    Stream(
                        FORMAT_OF_FOLDER.get(folder.name, folder.name),
                        f"{RUNNER}:fixture/{copy}/{path.name}",
                        lines,
                    )
                )
    return Workload(streams, expected.size)


def _record(stream: Stream, first: int, lines: list[bytes], now: datetime) -> RawRecord:
    context = LineContext(stream.source, RUNNER, stream.stream_id, first, now)
    return RawRecord(*encode_record(context, lines), len(lines))


def live_records(workload: Workload) -> list[RawRecord]:
    """One line per record, streams interleaved round-robin."""
    now = datetime.now(UTC)
    iterators = [(s, iter(s.lines)) for s in workload.streams]
    out: list[RawRecord] = []
    while iterators:
        still: list[tuple[Stream, Iterator[tuple[int, bytes]]]] = []
        for stream, lines in iterators:
            item = next(lines, None)
            if item is None:
                continue
            position, line = item
            out.append(_record(stream, position, [line], now))
            still.append((stream, lines))
        iterators = still
    return out


def backfill_records(
    workload: Workload, max_lines: int = DEFAULT_PACK_LINES, max_bytes: int = DEFAULT_PACK_BYTES
) -> list[RawRecord]:
    """Consecutive lines of one stream packed as ``spendstream publish`` packs them, file by file."""
    now = datetime.now(UTC)
    out: list[RawRecord] = []
    for stream in workload.streams:
        for first, pack in _packs(stream.lines, max_lines, max_bytes):
            out.append(_record(stream, first, pack, now))
    return out


def _packs(
    lines: list[tuple[int, bytes]], max_lines: int, max_bytes: int
) -> Iterator[tuple[int, list[bytes]]]:
    """Runs of consecutive positions, each within the limits: (first position, lines)."""
    pack: list[bytes] = []
    first = next_position = size = 0
    for position, line in lines:
        if pack and (position != next_position or len(pack) >= max_lines or size + len(line) + 1 > max_bytes):
            yield first, pack
            pack = []
        if not pack:
            first, size = position, 0
        pack.append(line)
        size += len(line) + 1
        next_position = position + 1
    if pack:
        yield first, pack
