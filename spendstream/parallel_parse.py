"""``parse`` on every core: files in groups over a process pool, merged exactly.

Groups: a Claude Code session's files (``<project>/<session>.jsonl`` and its
``<project>/<session>/subagents/*.jsonl``) form one group, every other file its own. Each
group is accounted in a worker process, by one of two routes:

- fast (Claude Code transcripts): a line without the bytes of a usage key is skipped
  (schemas/sources/prefilter.py; one native call per file, schemas/sources/pruned.py, where
  the C extension is built); a line of the common shape is read in one pass
  (``claude_transcript.plain_response``, the parser's own first step) and any other line
  through the worker's per-line classification (``schemas.normalize.classify_line``); the
  observations are summed per scope by schemas/response_totals.py, which is the ledger's
  result when its conditions hold. When one fails, the group takes the other route;
- exact: spendstream/local_parse.py's ``LocalParser`` (normalize + ``MemoryLedger``, an
  event per growth), the serial ``parse``.

The pool takes the groups in tasks, largest first (``_tasks``: a task's overhead is paid
per task, and small tasks at the end even out the workers). For reports (``ParseJob.keep``)
a task returns its groups' kept events as one lake table, made from the fast route's
response steps directly (sinks/lake_rows.py), without an event object per row.

Merging: groups account disjoint identities and ledger groups, so their per-scope sums
add. Each group returns the identities and ledger groups it saw; if two groups share one
(a response copied into another session's file, a run published as two files), the pool's
result is dropped and every file is parsed serially through one ledger instead.

Memory: a worker holds one file's bytes and one group's per-response state; the parent
holds per-scope sums and the groups' identity sets.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from producers.formats import detect_file_format
from schemas.ledger import MemoryLedger
from schemas.normalize import LATEST_EVENT_TIME, classify_line
from schemas.pricing import CostMode, PriceTable
from schemas.raw import MAX_LINE_BYTES
from schemas.response_totals import ResponseTotals, ScopeSums, events
from schemas.sources import pruned
from schemas.sources.base import LineContext
from schemas.sources.claude_transcript import FORMAT as TRANSCRIPT
from schemas.sources.claude_transcript import other_kind, plain_response
from schemas.sources.pruned import CANDIDATE, PLAIN, NativeScan
from schemas.usage import UsageEvent
from sinks.lake_rows import EventRows, Selection, event_rows
from sinks.summed_rows import SummedRows, Summing, summed_rows
from spendstream.local_parse import (
    MAX_LISTED_REJECTIONS,
    ParseSummary,
    Rejection,
    SessionTotals,
    file_lines,
    modified_at,
    parse_paths,
)

_WHITESPACE = b" \t\n\r\x0b\x0c"
# The smallest pool task (``_tasks``): below this, a task's overhead is no longer small.
MIN_TASK_BYTES = 2 * 2**20
# Up to this many summed rows a worker sends them as they are, else as a pyarrow table.
SUMMED_ROWS_SENT = 5_000


@dataclass(frozen=True)
class ParseJob:
    """What every group is parsed with."""

    requested_format: str
    prices: PriceTable
    mode: CostMode
    runner_id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    check_all: bool = False
    # For reports: keep the events (those ``keep`` accepts; ``PoolRun.tables``).
    keep: Callable[[UsageEvent], bool] | None = None


@dataclass
class GroupResult:
    # With ParseJob.keep, the fast route's summary counts lines but holds no per-session
    # sums or unpriced tally (a report reads the kept events instead).
    summary: ParseSummary
    unreadable: list[tuple[Path, OSError]]
    identities: set[str]
    groups: set[str]
    route: str  # "fast" | "exact"
    # With ParseJob.keep, the kept events: ``EventRows`` (the fast route, a lake's
    # ``Selection``) or a pyarrow table of sinks.lake's usage schema; see ``event_tables``.
    events: Any = None


@dataclass
class PoolRun:
    """What :func:`run_groups` gives: every group's result, in the groups' order, and with
    ``ParseJob.keep`` their kept events as lake tables (pyarrow, sinks.lake's usage schema),
    or with a ``Summing`` as ``SummedRows`` (the groups' ``events`` are then None)."""

    results: list[GroupResult]
    tables: list[Any]


def file_groups(paths: Sequence[Path]) -> list[list[Path]]:
    """Files grouped as the module says, each group in the order the files were given."""
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        key = path.parent.parent if path.parent.name == "subagents" else path.with_suffix("")
        groups.setdefault(key, []).append(path)
    return list(groups.values())


# A blank line (whitespace only: what ``file_lines`` skips) after a line break; the
# lookahead keeps the next line break for the next match.
_BLANK_LINE = re.compile(rb"\n[ \t\r\x0b\x0c]*(?=\n|\Z)")


def _blank_lines(data: bytes, begin: int, stop: int) -> int:
    """Blank lines (whitespace only) of the whole lines ``data[begin:stop]``, which start
    after a line break or at 0 (where ``data`` holds no whitespace): the lines ``file_lines``
    skips, so that the fast route counts the lines the exact one does."""
    size = len(data)
    blank = 0
    for match in _BLANK_LINE.finditer(data, max(begin - 1, 0), stop):
        # Inside: ended by a line break. At the end of the file: some whitespace, not only
        # the empty text after a final line break.
        if match.end() < stop or (stop == size and match.end() - match.start() > 1):
            blank += 1
    return blank


def _lines(data: bytes) -> int:
    """Non-blank lines of ``data`` (which does not start with whitespace), as ``file_lines``
    gives them; what :meth:`_FastGroup._scan` counts gap by gap."""
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - _blank_lines(data, 0, len(data))


class _LineNumbers:
    """1-based line numbers of increasing offsets of ``data``, counted incrementally."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0
        self.number = 1

    def at(self, start: int) -> int:
        self.number += self.data.count(b"\n", self.offset, start)
        self.offset = start
        return self.number


class _FastGroup:
    """One group through the fast route."""

    def __init__(self, job: ParseJob) -> None:
        self.job = job
        self.totals = ResponseTotals(keep_steps=job.keep is not None)
        self.summary = ParseSummary()

    def parse_file(self, path: Path, requested_format: str) -> bool:
        """Account one file; False when it is not a transcript the fast route reads."""
        if path.suffix != ".jsonl":
            return False
        data = path.read_bytes()
        if not data or data[:1] in _WHITESPACE:
            return False
        first = data[: data.find(b"\n")] if b"\n" in data else data
        fmt = detect_file_format(str(path), first.rstrip(b"\r"), requested_format)
        if fmt != TRANSCRIPT:
            return False
        name = str(path)
        self.summary.files[name] = fmt
        context = LineContext(
            fmt, self.job.runner_id, f"parse:{path.resolve()}", 1, modified_at(path), labels=self.job.labels
        )
        if self.job.check_all:
            # Every line, as the worker reads it.
            for position, line in file_lines(path):
                self._line(name, line, context, position)
            return True
        scan = pruned.native_scan
        if scan is None:
            self._scan(name, data, context)
        else:
            self._scan_native(name, data, context, scan)
        return True

    def _scan_native(self, name: str, data: bytes, context: LineContext, scan: NativeScan) -> None:
        """:meth:`_scan` in one native pass (schemas._pruned_json.scan): the same lines
        decoded, the same lines counted, each line of the common shape already decoded as far
        as its accounting reads it (schemas/sources/pruned.py)."""
        add, numbers, usage = self.totals.add_plain, _LineNumbers(data), 0
        lines, entries = scan(data, MAX_LINE_BYTES)
        for kind, start, end, obj in entries:
            if kind == PLAIN:
                if obj[8] < LATEST_EVENT_TIME:
                    usage += 1
                    add(obj)
                    continue
            elif (
                kind == CANDIDATE
                and end - start <= MAX_LINE_BYTES
                and self._decoded(data[start:end] if obj is None else obj)
            ):
                continue
            self._line(name, data[start:end], context, numbers, start)
        self.summary.outcomes["usage"] += usage
        self.summary.outcomes["skipped"] += lines - len(entries)

    def _decoded(self, line: bytes | dict[str, Any]) -> bool:
        """Account a line the prefilter keeps (its bytes, or what :func:`pruned.load` made of
        them) when it is of a kind without usage or of the common shape; False: for
        :meth:`_line`."""
        obj = line
        if type(line) is bytes:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                return False
        if type(obj) is not dict:
            return False
        if other_kind(obj):
            self.summary.outcomes["no_usage"] += 1
            return True
        plain = plain_response(obj)
        if plain is not None and plain[8] < LATEST_EVENT_TIME:
            self.summary.outcomes["usage"] += 1
            self.totals.add_plain(plain)
            return True
        return False

    def _scan(self, name: str, data: bytes, context: LineContext) -> None:
        """The transcript prefilter over a whole file: the lines holding ``usage`` are cut out
        and those of them holding ``assistant`` decoded; the bytes between decoded lines are
        searched for ``\\u`` (an escape may spell either word), and a line holding one is
        decoded too. So exactly the lines the prefilter keeps are decoded, and the bytes of
        the others are read only by that search and the line count. A line of the common
        shape is accounted here, any other by :meth:`_line`."""
        find, rfind, size = data.find, data.rfind, len(data)
        numbers = _LineNumbers(data)
        decoded = pos = gap = newlines = blank = 0
        while True:
            hit = find(b"usage", pos)
            if hit < 0:
                break
            start = rfind(b"\n", 0, hit) + 1
            end = find(b"\n", hit)
            if end < 0:
                end = size
            pos = end + 1
            line = data[start:end]
            if b"assistant" not in line:
                continue
            decoded += self._gap(name, data, gap, start, context, numbers)
            newlines += data.count(b"\n", gap, start) + (end < size)
            blank += _blank_lines(data, gap, start)
            gap = pos
            decoded += 1
            if end - start <= MAX_LINE_BYTES and self._decoded(line):
                continue
            self._line(name, line.rstrip(b"\r"), context, numbers, start)
        if gap < size:
            decoded += self._gap(name, data, gap, size, context, numbers)
            newlines += data.count(b"\n", gap, size)
            blank += _blank_lines(data, gap, size)
        lines = newlines + (0 if data.endswith(b"\n") else 1) - blank
        self.summary.outcomes["skipped"] += lines - decoded

    def _gap(
        self, name: str, data: bytes, begin: int, stop: int, context: LineContext, numbers: _LineNumbers
    ) -> int:
        """Decode the lines of ``data[begin:stop]`` (whole lines) holding ``\\u``; how many."""
        decoded = 0
        escape = data.find(b"\\u", begin, stop)
        while escape >= 0:
            start = data.rfind(b"\n", begin, escape) + 1 or begin
            end = data.find(b"\n", escape, stop)
            if end < 0:
                end = stop
            decoded += 1
            self._line(name, data[start:end].rstrip(b"\r"), context, numbers, start)
            escape = data.find(b"\\u", end, stop)
        return decoded

    def _line(
        self, path: str, line: bytes, context: LineContext, where: int | _LineNumbers, start: int = 0
    ) -> None:
        """Account one line by the worker's rules; ``where`` is its line number, or gives it
        at offset ``start`` (counted only when the outcome needs it: a rejected line is
        listed with it, and a response without an id is named by it)."""
        position = 0
        if isinstance(where, _LineNumbers):
            outcome = classify_line(line, context)
            if outcome.kind in ("dead", "usage"):
                position = where.at(start)
                outcome = classify_line(line, replace(context, position=position))
        else:
            position = where
            outcome = classify_line(line, replace(context, position=position))
        if outcome.kind == "dead":
            self.summary.outcomes["rejected"] += 1
            if len(self.summary.rejections) < MAX_LISTED_REJECTIONS:
                self.summary.rejections.append(Rejection(path, position, outcome.reason or "rejected"))
        elif outcome.kind == "usage":
            self.summary.outcomes["usage"] += 1
            for observation in outcome.observations:
                self.totals.add_observation(observation)
        else:
            self.summary.outcomes["no_usage"] += 1

    def finish(self, unreadable: list[tuple[Path, OSError]]) -> GroupResult | None:
        if self.job.keep is not None:
            # A report takes the events (``_fast_events``), not the per-session sums: only
            # the fast rule's conditions are checked (10 % of a report's worker time).
            self.totals.check(self.job.prices, self.job.mode)
            if self.totals.not_simple is not None:
                return None
        else:
            scopes, unpriced = self.totals.finish(self.job.prices, self.job.mode)
            if self.totals.not_simple is not None:
                return None
            for scope_id, sums in scopes.items():
                self.summary.sessions[scope_id] = _session_totals(scope_id, sums)
            for model, count in unpriced.items():
                self.summary.unpriced.add_model(model, count)
        identities = {f"id:{identity}" for identity in self.totals.responses}
        groups = {f"group:{r.compat[4]}" for r in self.totals.responses.values() if r.compat[4] is not None}
        result = GroupResult(self.summary, unreadable, identities, groups, "fast")
        if self.job.keep is not None:
            result.events = _fast_events(self.totals, self.job)
        return result


def _session_totals(scope_id: str, sums: ScopeSums) -> SessionTotals:
    return SessionTotals(
        session_id=scope_id,
        lineage=sums.lineage,
        tokens=sums.tokens,
        cost_usd=sums.cost,
        events=sums.events,
        sources={TRANSCRIPT},
        models=set(sums.models),
        cost_sources=set(sums.cost_sources),
        first_event_time=sums.first,
        last_event_time=sums.last,
    )


def _fast_events(totals: ResponseTotals, job: ParseJob) -> Any:
    """The events the fast route's ``totals`` stand for that ``job.keep`` selects: their
    rows made from the responses' steps (sinks/lake_rows.py) when it is a lake's
    ``Selection``, summed from the responses (sinks/summed_rows.py) when it is a
    ``Summing``, else a lake table of ``events``."""
    assert job.keep is not None
    if isinstance(job.keep, Summing):
        return summed_rows(
            totals,
            job.prices,
            source=TRANSCRIPT,
            runner_id=job.runner_id,
            labels=job.labels,
            summing=job.keep,
        )
    if isinstance(job.keep, Selection):
        return event_rows(
            totals,
            job.prices,
            source=TRANSCRIPT,
            runner_id=job.runner_id,
            labels=job.labels,
            selection=job.keep,
        )
    made = events(totals, job.prices, source=TRANSCRIPT, runner_id=job.runner_id, labels=job.labels)
    return _table(made, job.keep)


def event_tables(results: Sequence[GroupResult]) -> list[Any]:
    """The lake tables of ``results``' kept events, taken from them: the fast route's rows
    made one table (a table's cost is much per table, little per row), summed rows merged
    into one ``SummedRows``, the others' tables as they are."""
    rows: EventRows | None = None
    summed: SummedRows | None = None
    tables = []
    for result in results:
        events, result.events = result.events, None
        if isinstance(events, EventRows):
            rows = events if rows is None else rows.extend(events)
        elif isinstance(events, SummedRows):
            summed = events if summed is None else summed.extend(events)
        elif events is not None:
            tables.append(events)
    if summed is not None:
        # Few rows (a report per scope): the reporting process makes their table, and this
        # one never imports pyarrow; many (per response): this one, in parallel.
        tables.insert(0, summed if len(summed) <= SUMMED_ROWS_SENT else summed.table())
    if rows is None:
        return tables
    from sinks.lake import rows_table  # pyarrow: only reports need it

    return [rows_table(rows), *tables]


def _table(made: Iterable[UsageEvent], keep: Callable[[UsageEvent], bool]) -> Any:
    """A lake table of the events ``keep`` selects (``SummedRows`` when it is a ``Summing``:
    ``event_tables`` merges it with the task's other sums)."""
    kept = [event for event in made if keep(event)]
    if isinstance(keep, Summing):
        rows = SummedRows(keep.grain)
        for event in kept:
            rows.add_event(event)
        return rows
    from sinks.lake import usage_table  # pyarrow: only reports need it

    return usage_table(0, list(enumerate(kept)))


def _fast(files: Sequence[Path], job: ParseJob, fmt: str) -> GroupResult | None:
    group = _FastGroup(job)
    unreadable: list[tuple[Path, OSError]] = []
    for path in files:
        try:
            if not group.parse_file(path, fmt):
                return None
        except OSError as exc:
            unreadable.append((path, exc))
    return group.finish(unreadable)


def _exact(files: Sequence[Path], job: ParseJob, fmt: str) -> GroupResult:
    ledger = MemoryLedger(prices=job.prices, mode=job.mode)
    made: list[UsageEvent] = []
    on_event = made.append if job.keep else None
    summary, unreadable = parse_paths(files, fmt, ledger, job.runner_id, job.labels, on_event)
    result = GroupResult(summary, unreadable, set(ledger.identities), set(ledger.groups), "exact")
    if job.keep is not None:
        result.events = _table(made, job.keep)
    return result


def parse_group(files: Sequence[Path], job: ParseJob, fmt: str | None = None) -> GroupResult:
    """One group, by the fast route when it applies, else the exact one; ``fmt``: the
    files' format (default: the job's)."""
    fmt = fmt or job.requested_format
    # A group's objects are short-lived and acyclic: collecting them is wasted time (4 % of
    # `parse`); what is left when the group is done is collected then.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _fast(files, job, fmt) or _exact(files, job, fmt)
    finally:
        if collecting:
            gc.enable()


_JOB: ParseJob | None = None


def _pool_task(groups: list[tuple[list[Path], str]]) -> PoolRun:
    assert _JOB is not None
    # As in parse_group: what a task makes is acyclic, and its kept rows live to its end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        results = [parse_group(files, _JOB, fmt) for files, fmt in groups]
        return PoolRun(results, event_tables(results) if _JOB.keep is not None else [])
    finally:
        if collecting:
            gc.enable()


def _tasks(order: Sequence[int], sizes: Sequence[int], workers: int) -> list[list[int]]:
    """The groups ``order`` lists (largest first) cut into the pool's tasks: each about
    1/(4 * workers) of the bytes still left, so a few large tasks first (little overhead
    per group, one lake table per task) and small ones at the end, which even out the
    workers' finishing times."""
    left = sum(sizes[i] for i in order)
    tasks: list[list[int]] = []
    task: list[int] = []
    task_bytes = 0
    for index in order:
        task.append(index)
        task_bytes += sizes[index]
        if task_bytes >= max(left / (4 * workers), MIN_TASK_BYTES):
            tasks.append(task)
            left -= task_bytes
            task, task_bytes = [], 0
    if task:
        tasks.append(task)
    return tasks


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_groups(
    groups: Sequence[tuple[list[Path], str]],
    job: ParseJob,
    jobs: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> PoolRun:
    """Every group (files, format) over ``jobs`` processes (default: every core);
    ``on_done(groups done, bytes done)`` as they are done."""
    with GroupRun(groups, job, jobs, on_done) as run:
        return run.wait()


class GroupRun:
    """:func:`run_groups` in two steps: made, it has forked the pool and handed it the
    groups (the caller may work meanwhile); :meth:`wait` gives the result. Leaving the
    ``with`` block ends the pool (what it has not started is cancelled)."""

    def __init__(
        self,
        groups: Sequence[tuple[list[Path], str]],
        job: ParseJob,
        jobs: int | None = None,
        on_done: Callable[[int, int], None] | None = None,
    ) -> None:
        global _JOB
        # What is loaded by now (the price table, the imports) lives to the end: out of the
        # collector's sight, a full collection no longer walks it (it was 10 % of `parse`).
        gc.freeze()
        self.groups, self.job, self.on_done = groups, job, on_done
        self.workers = max(1, min(jobs or default_jobs(), len(groups)))
        self.sizes = [sum(_size(p) for p in files) for files, _ in groups]
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[PoolRun], int] = {}
        if self.workers == 1:
            return
        order = sorted(range(len(groups)), key=lambda i: -self.sizes[i])
        self.tasks = _tasks(order, self.sizes, self.workers)
        _JOB = job  # the workers fork with it (at the first submit)
        context = multiprocessing.get_context("fork")
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        try:
            for number, task in enumerate(self.tasks):
                self._futures[self._pool.submit(_pool_task, [groups[i] for i in task])] = number
        except BaseException:
            self.__exit__()
            raise

    def wait(self) -> PoolRun:
        groups, sizes, job, on_done = self.groups, self.sizes, self.job, self.on_done
        done_bytes = 0
        if self._pool is None:
            results = []
            for index, (files, fmt) in enumerate(groups):
                results.append(parse_group(files, job, fmt))
                done_bytes += sizes[index]
                if on_done is not None:
                    on_done(index + 1, done_bytes)
            return PoolRun(results, event_tables(results) if job.keep is not None else [])
        by_index: dict[int, GroupResult] = {}
        tables: list[list[Any]] = [[] for _ in self.tasks]
        for future in as_completed(self._futures):
            number = self._futures[future]
            done = future.result()
            tables[number] = done.tables
            for index, result in zip(self.tasks[number], done.results, strict=True):
                by_index[index] = result
                done_bytes += sizes[index]
            if on_done is not None:
                on_done(len(by_index), done_bytes)
        results = [by_index[i] for i in range(len(groups))]
        return PoolRun(results, [table for part in tables for table in part])

    def __enter__(self) -> GroupRun:
        return self

    def __exit__(self, *exc: object) -> None:
        global _JOB
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            _JOB = None


def parse_parallel(
    paths: Sequence[Path], job: ParseJob, jobs: int | None = None
) -> tuple[ParseSummary, list[tuple[Path, OSError]]]:
    """``parse_paths``' result, computed over ``jobs`` processes (default: every core)."""
    results = run_groups([(files, job.requested_format) for files in file_groups(paths)], job, jobs).results
    merged = merge_results(results, paths)
    if merged is None:
        ledger = MemoryLedger(prices=job.prices, mode=job.mode)
        return parse_paths(paths, job.requested_format, ledger, job.runner_id, job.labels)
    return merged


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def groups_overlap(results: Sequence[GroupResult]) -> bool:
    """Whether two groups share an identity or a ledger group: then their results do not
    add up, and the files must be parsed serially through one ledger."""
    seen_identities: set[str] = set()
    seen_groups: set[str] = set()
    for result in results:
        if not seen_identities.isdisjoint(result.identities) or not seen_groups.isdisjoint(result.groups):
            return True
        seen_identities |= result.identities
        seen_groups |= result.groups
    return False


def merge_results(
    results: Sequence[GroupResult], paths: Sequence[Path] = ()
) -> tuple[ParseSummary, list[tuple[Path, OSError]]] | None:
    """The groups' results as one, or None when two groups share an identity or ledger group.

    Files, rejections and unreadable files are listed in the order of ``paths`` (the
    serial parse's order; a group's files need not be adjacent there), and the rejections
    listed are the first ``MAX_LISTED_REJECTIONS`` in that order, as the serial parse's."""
    if groups_overlap(results):
        return None
    summary = ParseSummary()
    unreadable: list[tuple[Path, OSError]] = []
    outcomes: Counter[str] = Counter()
    files: dict[str, str] = {}
    rejections: list[Rejection] = []
    for result in results:
        part = result.summary
        outcomes.update(part.outcomes)
        files.update(part.files)
        # A group lists its first rejections in its files' order, a prefix of the serial list's.
        rejections.extend(part.rejections)
        summary.disagreeing |= part.disagreeing
        for model, count in part.unpriced.counts.items():
            summary.unpriced.add_model(model, count)
        unreadable.extend(result.unreadable)
        for scope_id, totals in part.sessions.items():
            mine = summary.sessions.get(scope_id)
            summary.sessions[scope_id] = totals if mine is None else _combined(mine, totals)
    summary.outcomes = outcomes
    rank = {str(path): index for index, path in enumerate(paths)}

    def order(path: str) -> int:
        return rank.get(path, len(rank))

    summary.files = {path: files[path] for path in sorted(files, key=order)}
    summary.rejections = sorted(rejections, key=lambda r: order(r.path))[:MAX_LISTED_REJECTIONS]
    unreadable.sort(key=lambda item: order(str(item[0])))
    return summary, unreadable


def _combined(a: SessionTotals, b: SessionTotals) -> SessionTotals:
    firsts = [t for t in (a.first_event_time, b.first_event_time) if t is not None]
    lasts = [t for t in (a.last_event_time, b.last_event_time) if t is not None]
    return SessionTotals(
        session_id=a.session_id,
        lineage=b.lineage,
        tokens=a.tokens + b.tokens,
        cost_usd=a.cost_usd + b.cost_usd,
        events=a.events + b.events,
        sources=a.sources | b.sources,
        models=a.models | b.models,
        cost_sources=a.cost_sources | b.cost_sources,
        first_event_time=min(firsts) if firsts else None,
        last_event_time=max(lasts) if lasts else None,
    )
