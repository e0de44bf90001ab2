"""The spendstream side of the ccusage comparison: per-session totals of a Claude history.

Three ways, from the cheapest to the whole product:
- ``ledger``: the worker's parser and :class:`schemas.ledger.MemoryLedger` over the files
  in one process (what a local ``spendstream parse`` does), no Kafka;
- ``parse``: the ``spendstream parse`` command, when it exists (being built beside this);
- ``pipeline``: broker + ``spendstream worker`` + ``spendstream publish DIR``, then
  ``spendstream report session --json`` once the lake holds everything.

Every way yields :class:`SessionTotals` per *session id*: a subagent's scope
(``<session>/agent-<id>``) is folded into its session, as ccusage reports it.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from config.settings import Settings
from schemas.ledger import MemoryLedger
from schemas.money import ZERO_USD
from schemas.sources import PARSERS, BadLine, LineContext
from schemas.usage import TokenCounts
from sinks.catalog import run_query
from tests.integration.harness import raw_partitions_in_log
from tests.integration.producers_harness import free_port

FORMAT = "claude-transcript"
# How often the pipeline mode looks at the lake: the time measured is late by at most this.
POLL_SECONDS = 0.5
REPO = Path(__file__).resolve().parent.parent


@dataclass
class SessionTotals:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    web_search: int = 0
    cost: Decimal = ZERO_USD
    split_known: bool = True  # False: the tool reports cache writes as one number (in _5m)

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    def add_tokens(self, tokens: TokenCounts, cost: Decimal) -> None:
        self.input += tokens.input_tokens
        self.output += tokens.output_tokens
        self.cache_read += tokens.cache_read_tokens
        self.cache_write_5m += tokens.cache_write_5m_tokens
        self.cache_write_1h += tokens.cache_write_1h_tokens
        self.web_search += tokens.web_search_requests
        self.cost += cost


@dataclass
class Measured:
    """One tool's run: wall time, per-session totals and notes."""

    name: str
    seconds: float
    sessions: dict[str, SessionTotals] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def session_of(scope: str) -> str:
    return scope.split("/", 1)[0]


def history_files(root: Path) -> Iterator[Path]:
    """``*.jsonl`` under ``root/projects`` in the order ``spendstream publish`` walks them."""
    for folder, dirs, files in os.walk(root / "projects"):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".jsonl"):
                yield Path(folder) / name


def run_ledger(root: Path) -> Measured:
    """Parser + MemoryLedger over every line, one process, no Kafka."""
    started = time.perf_counter()
    ledger = MemoryLedger()
    sessions: dict[str, SessionTotals] = {}
    parse = PARSERS[FORMAT]
    now = datetime.now(UTC)
    bad = 0
    for path in history_files(root):
        stream = f"bench:{path}"
        with path.open("rb") as handle:
            for position, raw in enumerate(handle, 1):
                line = raw.rstrip(b"\r\n")
                if not line:
                    continue
                context = LineContext(FORMAT, "bench", stream, position, now)
                try:
                    observations, _ = parse(line, context, None)
                except BadLine:
                    bad += 1
                    continue
                for obs in observations:
                    event = ledger.observe(obs, context)
                    if event is not None:
                        totals = sessions.setdefault(session_of(event.session_id), SessionTotals())
                        totals.add_tokens(event.tokens, event.cost_usd)
    measured = Measured("spendstream (parser + ledger, in process)", time.perf_counter() - started, sessions)
    if bad:
        measured.notes.append(f"{bad} lines the parser rejected")
    return measured


def _from_report_rows(rows: list[dict[str, Any]]) -> dict[str, SessionTotals]:
    sessions: dict[str, SessionTotals] = {}
    for row in rows:
        totals = sessions.setdefault(session_of(str(row["session_id"])), SessionTotals())
        tokens = TokenCounts(
            input_tokens=int(row.get("input_tokens") or 0),
            output_tokens=int(row.get("output_tokens") or 0),
            cache_read_tokens=int(row.get("cache_read_tokens") or 0),
            cache_write_5m_tokens=int(row.get("cache_write_5m_tokens") or 0),
            cache_write_1h_tokens=int(row.get("cache_write_1h_tokens") or 0),
            web_search_requests=int(row.get("web_search_requests") or 0),
        )
        totals.add_tokens(tokens, Decimal(str(row.get("cost_usd") or 0)))
    return sessions


# The project's packages: what `pip install` byte-compiles (the commands import them).
PACKAGES = ("config", "schemas", "sinks", "spendstream", "streams", "producers")


def compile_project() -> bool:
    """Byte-compile the project's packages as installing them does, before the commands are
    timed; True if some module had no bytecode yet. A checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set (this machine sets it for every process) never writes
    any, so each command compiled every module it imported from source: 40 ms before
    `parse` forks, which no installed copy (nor a checkout without that variable, after its
    first run) pays."""
    missing = False
    for name in PACKAGES:
        for source in (REPO / name).rglob("*.py"):
            cached = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
            missing = missing or not cached.exists()
        compileall.compile_dir(REPO / name, quiet=1)
    return missing


def run_parse_command(root: Path) -> Measured | None:
    """``spendstream parse DIR --json``, if that command exists yet; None otherwise."""
    if not (REPO / "spendstream" / "commands" / "parse_cmd.py").exists():
        return None
    cli = [sys.executable, "-m", "spendstream.cli", "parse"]
    if subprocess.run([*cli, "--help"], capture_output=True, cwd=REPO, check=False).returncode != 0:
        return None
    started = time.perf_counter()
    proc = subprocess.run(
        [*cli, str(root / "projects"), "--json"], capture_output=True, cwd=REPO, check=False
    )
    measured = Measured("spendstream parse (local)", time.perf_counter() - started)
    if proc.returncode != 0:
        measured.notes.append(f"exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]}")
        return measured
    try:
        document = orjson.loads(proc.stdout)
        rows = document.get("sessions") or document["rows"] if isinstance(document, dict) else document
        measured.sessions = _from_report_rows(rows)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        measured.notes.append(f"output not understood ({type(exc).__name__}): time only")
    return measured


def run_report_command(root: Path) -> Measured:
    """``spendstream report session --from DIR --format json``: the lake's report of the files,
    no broker."""
    cli = [sys.executable, "-m", "spendstream.cli", "report", "session", "--from"]
    started = time.perf_counter()
    proc = subprocess.run(
        [*cli, str(root / "projects"), "--format", "json"], capture_output=True, cwd=REPO, check=False
    )
    measured = Measured("spendstream report session --from (local)", time.perf_counter() - started)
    if proc.returncode != 0:
        measured.notes.append(f"exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]}")
        return measured
    measured.sessions = _from_report_rows(orjson.loads(proc.stdout)["rows"])
    return measured


def _report(env: dict[str, str]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "spendstream.cli", "report", "session", "--json"],
        env=env, cwd=REPO, capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        return []
    rows: list[dict[str, Any]] = orjson.loads(proc.stdout)["rows"]
    return rows


def _lake_output_tokens(data_dir: Path) -> int:
    """Output tokens the lake under ``data_dir`` holds now (its usage view, as reports read it)."""
    if not data_dir.exists():
        return 0
    _, rows = run_query(data_dir, "SELECT coalesce(sum(output_tokens), 0) FROM usage")
    return int(rows[0][0])


def _wait_assigned(
    workers: list[tuple[subprocess.Popen[bytes], Path]],
    raw: str,
    prefix: str,
    partitions: int,
    timeout_s: float,
) -> None:
    """Until the workers hold every partition of ``raw`` once between them (from their logs)."""
    deadline = time.perf_counter() + min(timeout_s, 180.0)
    while time.perf_counter() < deadline:
        if any(process.poll() is not None for process, _ in workers):
            return  # the caller reports the exit
        owned = [raw_partitions_in_log(log, raw, prefix) for _, log in workers]
        if all(owned) and sum(map(len, owned)) == partitions == len(set().union(*owned)):
            time.sleep(3.0)  # the lake sinks' consumers join their own group alongside
            return
        time.sleep(0.5)
    raise TimeoutError(f"the workers were not assigned every partition of {raw} in time")


def run_pipeline(
    root: Path,
    work: Path,
    broker: str,
    expected_output: int,
    timeout_s: float,
    workers: int = 1,
    partitions: int | None = None,
    supervised: bool = False,
    sink_process: bool = False,
    fetch_wait_ms: int | None = None,
) -> Measured:
    """broker + worker + publish, timed from publish start until the lake holds every session's
    output tokens (or nothing changed for a while, or ``timeout_s``). The workers are running
    and hold every raw partition before publish starts, as a fleet's workers are when a
    backfill begins: several workers that joined while records flowed would rebalance
    mid-run (and a Faust skip at that moment is a fail-stop and a restart)."""
    work.mkdir(parents=True, exist_ok=True)
    prefix = f"ccbench{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSTREAM_")}
    env.update(
        SPENDSTREAM_BROKER=broker,
        SPENDSTREAM_TOPIC_PREFIX=prefix,
        SPENDSTREAM_STATE_DIR=str(work / "state"),
        SPENDSTREAM_DATA_DIR=str(work / "lake"),
        SPENDSTREAM_WEB_PORT=str(free_port()),
    )
    if partitions is not None:
        env["SPENDSTREAM_PARTITIONS"] = str(partitions)
    name = "worker" if workers == 1 else f"{workers} workers"
    if fetch_wait_ms is not None:
        env["SPENDSTREAM_FETCH_MAX_WAIT_MS"] = str(fetch_wait_ms)
        name += f", fetch wait {fetch_wait_ms} ms"
    if sink_process:
        name += " --no-sink + a --sink-only process"
    measured = Measured(f"spendstream pipeline (publish + {name} + lake)", 0.0)
    fleet = []
    logs = []
    roles = [("--no-sink",) if sink_process else ()] * workers + ([("--sink-only",)] if sink_process else [])
    for number, role in enumerate(roles):
        # Each worker its own state folder, web port and log; one lake, one consumer group.
        logs.append(work / f"worker{number}.log")
        own = {
            **env,
            "SPENDSTREAM_STATE_DIR": str(work / f"state{number}"),
            "SPENDSTREAM_WEB_PORT": str(free_port()),
        }
        with logs[-1].open("ab") as log:
            fleet.append(
                subprocess.Popen(
                    # --no-restart: a worker that stops is reported; supervised, it is restarted
                    # as `spendstream worker` does in production (a fail-stop replays in order).
                    [
                        sys.executable,
                        "-m",
                        "spendstream.cli",
                        "worker",
                        *([] if supervised else ["--no-restart"]),
                        *role,
                    ],
                    env=own,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
    try:
        count = partitions or int(Settings.model_fields["partitions"].default)
        stages = list(zip(fleet[:workers], logs, strict=False))
        _wait_assigned(stages, f"{prefix}.raw", prefix, count, timeout_s)
        started = time.perf_counter()
        publish = subprocess.run(
            [sys.executable, "-m", "spendstream.cli", "publish", "--no-progress", str(root / "projects")],
            env=env, cwd=REPO, capture_output=True, check=False,
        )  # fmt: skip
        publish_s = time.perf_counter() - started
        summary = publish.stderr.decode(errors="replace").strip().splitlines()
        measured.notes.append(
            f"publish exit {publish.returncode} in {publish_s:.1f}s: {summary[-1] if summary else ''}"
        )
        last_change, last_output = time.perf_counter(), -1
        while time.perf_counter() - started < timeout_s:
            stopped = [w for w in fleet if w.poll() is not None]
            if stopped:
                measured.notes.append(f"worker exited with {stopped[0].returncode} (see {work}/worker*.log)")
                break
            # The lake's own query, in process and cheap (no report process to start every
            # poll): the time is when the lake first holds every output token. The report
            # command then reads the same lake for the per-session comparison.
            output = _lake_output_tokens(work / "lake")
            now = time.perf_counter()
            if output != last_output:
                last_change, last_output = now, output
                measured.seconds = now - started
            if output >= expected_output:
                rows = _report(env)
                measured.sessions = _from_report_rows(rows)
                if sum(int(r.get("output_tokens") or 0) for r in rows) >= expected_output:
                    break
            if now - last_change > 180:
                break
            time.sleep(POLL_SECONDS)
        if last_output < expected_output:
            measured.sessions = _from_report_rows(_report(env))
            measured.notes.append(
                f"lake incomplete: {last_output:,} of {expected_output:,} output tokens after "
                f"{time.perf_counter() - started:.0f}s (time shown: until the last change)"
            )
    finally:
        for worker in fleet:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in fleet:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=60)
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    measured.notes.append(f"topics {prefix}.* on {broker}; worker logs {work}/worker*.log")
    return measured
