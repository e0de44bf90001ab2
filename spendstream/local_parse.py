"""Local files through the parsers and the ledger, exactly as the worker would, no broker.

Each file is one stream (its lines numbered from 1, like ``publish``): every line becomes a
raw record with the producer's headers and goes through the worker's own first step
(``schemas.normalize.normalize_record``: size limit, parser, rescope, outcome), then its
observations through a :class:`~schemas.ledger.MemoryLedger`. So a file parsed here gives
the same events, and the same per-line outcomes, as the same file published to the worker.

Only counts, ids, model names and reasons leave this module: never a line's content.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson

from producers.formats import detect_file_format
from schemas.ledger import MemoryLedger
from schemas.money import ZERO_USD

# The worker's pure first stage, reused so that `parse` classifies a line exactly as the
# worker does (the only import of streams/ outside its entry point; it is pure).
from schemas.normalize import StreamState, normalize_record
from schemas.pricing import cost_disagrees
from schemas.raw import encode_record
from schemas.sources.base import LineContext
from schemas.unpriced import UnpricedTally
from schemas.usage import TokenCounts, UsageEvent

_MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_LISTED_REJECTIONS = 100


@dataclass
class SessionTotals:
    """What one scope (``session_id`` of the events) used, summed over its events."""

    session_id: str
    lineage: tuple[str, ...] = ()
    tokens: TokenCounts = field(default_factory=TokenCounts)
    cost_usd: Decimal = ZERO_USD
    events: int = 0
    sources: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    cost_sources: set[str] = field(default_factory=set)
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None

    def add(self, event: UsageEvent) -> None:
        self.lineage = event.lineage
        self.tokens = self.tokens + event.tokens
        self.cost_usd += event.cost_usd
        self.events += 1
        self.sources.add(event.source)
        if event.model:
            self.models.add(event.model)
        self.cost_sources.add(event.cost_source)
        if self.first_event_time is None or event.event_time < self.first_event_time:
            self.first_event_time = event.event_time
        if self.last_event_time is None or event.event_time > self.last_event_time:
            self.last_event_time = event.event_time


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rejected line: where it is and why (the reason never quotes the line)."""

    path: str
    line: int
    reason: str


@dataclass
class ParseSummary:
    """Everything ``spendstream parse`` reports."""

    sessions: dict[str, SessionTotals] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    files: dict[str, str] = field(default_factory=dict)  # path -> format used
    rejections: list[Rejection] = field(default_factory=list)
    disagreeing: set[str] = field(default_factory=set)  # identities whose reported cost disagrees
    unpriced: UnpricedTally = field(default_factory=UnpricedTally)

    @property
    def cost_disagreements(self) -> int:
        return len(self.disagreeing)

    def total(self) -> SessionTotals:
        total = SessionTotals(session_id="TOTAL")
        for session in self.sessions.values():
            total.tokens = total.tokens + session.tokens
            total.cost_usd += session.cost_usd
            total.events += session.events
            total.cost_sources |= session.cost_sources
        return total


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Files to parse, each once: files as given, folders walked for ``*.jsonl``/``*.json``
    in a stable order. A missing path raises FileNotFoundError."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for folder, dirs, names in os.walk(path):
                dirs.sort()
                files.extend(Path(folder) / n for n in sorted(names) if n.endswith((".jsonl", ".json")))
        else:
            raise FileNotFoundError(2, "No such file or directory", text)
    unique: dict[str, Path] = {}
    real_folders: dict[str, str] = {}
    for file in files:
        unique.setdefault(_real_path(file, real_folders), file)
    return list(unique.values())


def _real_path(file: Path, real_folders: dict[str, str]) -> str:
    """``os.path.realpath(file)``, resolving each folder once (``real_folders``): a file
    that is no symbolic link is its real folder joined with its name."""
    folder, name = str(file.parent), file.name
    if name in ("", ".", "..") or file.is_symlink():
        return os.path.realpath(file)
    real = real_folders.get(folder)
    if real is None:
        real = real_folders[folder] = os.path.realpath(folder)
    return f"{real.rstrip('/')}/{name}"


def _whole_document(path: Path, data: bytes) -> bytes | None:
    """A ``.json`` file holding one pretty-printed JSON object (gemini), compacted; else None."""
    if path.suffix != ".json" or len(data) > _MAX_DOCUMENT_BYTES or data.count(b"\n") <= 1:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return orjson.dumps(value) if isinstance(value, dict) else None


def file_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(position, line) of a file's non-blank lines, positions being 1-based line numbers;
    a pretty-printed ``.json`` document is one line at position 1 (as ``publish`` sends it)."""
    data = path.read_bytes()
    document = _whole_document(path, data)
    if document is not None:
        yield 1, document
        return
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.rstrip(b"\r")
        if line.strip():
            yield number, line


def modified_at(path: Path) -> datetime:
    """A file's modification time, exact to the microsecond (``st_mtime``, a float, is not).

    It stands in for the publish time: a line that carries no time of its own (``claude -p``
    JSON, ``codex exec --json``, gemini) is dated by its publish time in the lake, and the
    file's modification time is when the CLI wrote it.
    """
    nanoseconds = path.stat().st_mtime_ns
    seconds, rest = divmod(nanoseconds, 10**9)
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=rest // 1000)


class LocalParser:
    """Feeds files through the worker's first step and a MemoryLedger; collects a summary
    and hands each usage event to ``on_event`` (the events the worker would publish)."""

    def __init__(
        self,
        ledger: MemoryLedger,
        runner_id: str,
        labels: Mapping[str, str] | None = None,
        on_event: Callable[[UsageEvent], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.runner_id = runner_id
        # As `publish --label`: the parsers see them (codex_json takes its model from `model`).
        self.labels = dict(labels or {})
        self.on_event = on_event
        self.summary = ParseSummary()
        self._streams: dict[str, StreamState] = {}

    def parse_file(self, path: Path, requested_format: str) -> None:
        """Account every line of ``path`` (raises OSError when it cannot be read)."""
        lines = list(file_lines(path))
        fmt = detect_file_format(str(path), lines[0][1] if lines else None, requested_format)
        self.summary.files[str(path)] = fmt
        stream_id = f"parse:{path.resolve()}"
        published_at = modified_at(path)
        for position, line in lines:
            context = LineContext(fmt, self.runner_id, stream_id, position, published_at, labels=self.labels)
            self._record(str(path), position, *encode_record(context, [line]))

    def _record(
        self, path: str, position: int, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        outcome = normalize_record(value, headers, self._streams.get, key=key)
        if outcome.new_state is not None and outcome.context is not None:
            self._streams[outcome.context.stream_id] = outcome.new_state
        if outcome.kind == "dead":
            self.summary.outcomes["rejected"] += 1
            if len(self.summary.rejections) < MAX_LISTED_REJECTIONS:
                self.summary.rejections.append(Rejection(path, position, outcome.reason or "rejected"))
            return
        if outcome.kind != "usage" or outcome.context is None:
            # "duplicate" cannot happen (each file is parsed once): it would be a valid
            # line with no new usage.
            self.summary.outcomes["no_usage"] += 1
            return
        self.summary.outcomes["usage"] += 1
        for observation in outcome.observations:
            if cost_disagrees(
                observation.tokens,
                observation.model,
                observation.reported_cost_usd,
                self.ledger.prices,
                observation.event_time,
            ):
                self.summary.disagreeing.add(observation.identity)
            event = self.ledger.observe(observation, outcome.context)
            if event is not None:
                self._add(event)

    def _add(self, event: UsageEvent) -> None:
        session = self.summary.sessions.get(event.session_id)
        if session is None:
            session = self.summary.sessions[event.session_id] = SessionTotals(event.session_id)
        session.add(event)
        self.summary.unpriced.add(event)
        if self.on_event is not None:
            self.on_event(event)


def parse_paths(
    paths: Sequence[Path],
    requested_format: str,
    ledger: MemoryLedger,
    runner_id: str,
    labels: Mapping[str, str] | None = None,
    on_event: Callable[[UsageEvent], None] | None = None,
) -> tuple[ParseSummary, list[tuple[Path, OSError]]]:
    """Parse every file (each line labelled as ``publish --label`` would); returns the
    summary and the files that could not be read."""
    parser = LocalParser(ledger, runner_id, labels, on_event)
    unreadable: list[tuple[Path, OSError]] = []
    for path in paths:
        try:
            parser.parse_file(path, requested_format)
        except OSError as exc:
            unreadable.append((path, exc))
    return parser.summary, unreadable


def ordered_sessions(summary: ParseSummary) -> list[SessionTotals]:
    """Sessions by first event time, then id (deterministic output)."""
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(summary.sessions.values(), key=lambda s: (s.first_event_time or far_future, s.session_id))
