"""``report KIND --from PATH...``: reports of local CLI output files, without a broker.

The files go through ``LocalParser`` (the worker's normalize step and ledger, so the same
``UsageEvent``s, labels, lineage and subagent scopes) into a ``MemoryLake``, whose views
are the lake's: the report's SQL is the one it runs over Parquet. So ``--from`` shows the
numbers the lake would show for the same files, published with the same labels.

Two things a file cannot say, and how they are chosen:
- the publish time of lines that carry no time (``claude -p`` JSON, ``codex exec --json``,
  gemini): the file's modification time (``local_parse.modified_at``);
- labels: ``--label K=V`` labels every file, as ``publish --label`` would.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from producers.formats import default_watch_roots
from schemas.ledger import MemoryLedger
from schemas.sources.detect import AUTO, OPENCLAW
from sinks.lake_rows import Selection
from sinks.summed_rows import Summing
from spendstream.local_parse import LocalParser, expand_paths
from spendstream.parallel_parse import GroupRun, ParseJob, file_groups, groups_overlap

if TYPE_CHECKING:  # pyarrow and DuckDB: imported by the caller once the workers are forked
    from sinks.memory_lake import MemoryLake


def default_sources(environ: Mapping[str, str] | None = None) -> list[tuple[Path, str]]:
    """(folder, format) of the CLIs found on this machine: the folders ``watch`` follows
    (Claude Code projects, Codex sessions) and OpenClaw's agents, those that exist."""
    env = os.environ if environ is None else environ
    roots = [(Path(folder), fmt) for folder, fmt in default_watch_roots(dict(env))]
    home = Path(env.get("HOME") or Path.home())
    roots.append((home / ".openclaw" / "agents", OPENCLAW))
    return [(folder, fmt) for folder, fmt in roots if folder.is_dir()]


def source_files(paths: Sequence[str], environ: Mapping[str, str] | None = None) -> list[tuple[Path, str]]:
    """(file, format) pairs to read: the paths given (format detected per file), else the
    default folders. A missing path raises FileNotFoundError."""
    if paths:
        return [(file, AUTO) for file in expand_paths(paths)]
    files: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for folder, fmt in default_sources(environ):
        for file in expand_paths([str(folder)]):
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append((file, fmt))
    return files


class ProgressBar:
    """A bar on a terminal's stderr, drawn only once reading has taken ``delay`` seconds (so
    only for large folders); nothing at all when stderr is not a terminal."""

    def __init__(self, total_bytes: int, stream: TextIO | None = None, *, delay: float = 0.5) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() and total_bytes > 0
        self.total = total_bytes
        self.started = time.monotonic()
        self.delay = delay
        self._last = 0.0
        self._drawn = False

    def update(self, files: int, total_files: int, done_bytes: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.started < self.delay or now - self._last < 0.2:
            return
        self._last = now
        share = min(done_bytes / self.total, 1.0)
        filled = int(share * 30)
        bar = "#" * filled + "." * (30 - filled)
        self.stream.write(f"\r\x1b[2K[{bar}] {share:4.0%}  {files:,}/{total_files:,} files")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


@dataclass
class LocalRead:
    """What reading the files gave besides the events: counts for a stderr note."""

    files: int = 0
    rejected: int = 0
    unreadable: list[tuple[Path, OSError]] = field(default_factory=list)


def read_files(
    files: Sequence[tuple[Path, str]],
    lake: MemoryLake,
    ledger: MemoryLedger,
    runner_id: str,
    labels: Mapping[str, str] | None = None,
    progress: TextIO | None = None,
    jobs: int | None = None,
) -> LocalRead:
    """Every file through the parsers and the ledger rules; each event into ``lake``.

    Over every core (spendstream/parallel_parse.py: a session's files together, each group
    by the fast route or the exact one, events selected and made a lake table in the
    worker process); serially through one ledger when groups share an identity."""
    with LocalReading(files, lake.selector(), ledger, runner_id, labels, progress, jobs) as reading:
        return reading.finish(lake)


class LocalReading:
    """:func:`read_files` in two steps, so that the caller makes its lake while the workers
    parse: made, the workers have been forked and given the files (events selected, and
    summed, as ``selection`` says: ``MemoryLake.selector``); :meth:`finish` puts the events
    into a lake of that selection."""

    def __init__(
        self,
        files: Sequence[tuple[Path, str]],
        selection: Selection | Summing,
        ledger: MemoryLedger,
        runner_id: str,
        labels: Mapping[str, str] | None = None,
        progress: TextIO | None = None,
        jobs: int | None = None,
    ) -> None:
        self.files, self.ledger, self.runner_id, self.labels = files, ledger, runner_id, labels
        self.selection = selection
        sizes = [_size(path) for path, _ in files]
        self.bar = ProgressBar(sum(sizes), progress)
        job = ParseJob(AUTO, ledger.prices, ledger.mode, runner_id, dict(labels or {}), keep=selection)
        by_format: dict[str, list[Path]] = {}
        for path, fmt in files:
            by_format.setdefault(fmt, []).append(path)
        groups = [(group, fmt) for fmt, paths in by_format.items() for group in file_groups(paths)]
        self.run = GroupRun(groups, job, jobs, lambda done, size: self.bar.update(done, len(groups), size))

    def finish(self, lake: MemoryLake) -> LocalRead:
        if lake.selector() != self.selection:
            raise ValueError("the lake selects other events than the workers kept")
        try:
            run = self.run.wait()
        finally:
            self.bar.close()
        if groups_overlap(run.results):  # (the per-session sums that `parse` merges are not needed)
            return _read_serially(self.files, lake, self.ledger, self.runner_id, self.labels)
        result = LocalRead(files=len(self.files))
        lake.add_tables(run.tables)
        for group in run.results:
            result.rejected += group.summary.outcomes["rejected"]
            result.unreadable.extend(group.unreadable)
        return result

    def __enter__(self) -> LocalReading:
        return self

    def __exit__(self, *exc: object) -> None:
        self.run.__exit__(*exc)


def _read_serially(
    files: Sequence[tuple[Path, str]],
    lake: MemoryLake,
    ledger: MemoryLedger,
    runner_id: str,
    labels: Mapping[str, str] | None,
) -> LocalRead:
    parser = LocalParser(ledger, runner_id, labels, on_event=lake.add)
    result = LocalRead(files=len(files))
    for path, fmt in files:
        try:
            parser.parse_file(path, fmt)
        except OSError as exc:
            result.unreadable.append((path, exc))
    result.rejected = parser.summary.outcomes["rejected"]
    lake.flush()
    return result


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
