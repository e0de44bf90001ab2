"""Producer figures: backfill throughput of ``publish`` and the wall-time overhead of ``run``.

    python -m bench.bench_publish [--lines 200000] [--runs 20] [--json]

Needs a broker (SPENDSTREAM_BROKER, else the local one: `spendstream broker start`).
Backfill: a temporary folder of transcript-like files (the real Claude Code transcript's
lines, cycled: real sizes and real content to redact) is published three ways: with the
default redaction, with --keep-content, and redaction alone without Kafka. Run overhead:
the median wall time of a fake CLI that prints one result line, wrapped by
``spendstream run`` and not, and of ``true``. Topics are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from config.kafka import TOPICS, client_options
from config.settings import Settings
from producers.publish import PublishRequest, publish
from producers.redact import redact_line

REPO = Path(__file__).resolve().parents[1]
TRANSCRIPT = REPO.parent / "shared/fixtures/real/claude-transcript/132b2f66-ee5f-46f6-8904-32d9dc4d36c3.jsonl"
RESULT = REPO.parent / "shared/fixtures/real/claude-json/result-success.json"
FAKE_CLI = REPO / "tests/fixtures/fake_cli.py"
LINES_PER_FILE = 2_000


def make_corpus(folder: Path, total: int) -> tuple[int, int]:
    """``total`` lines in files of LINES_PER_FILE under project folders; returns (files, bytes)."""
    source = itertools.cycle(TRANSCRIPT.read_bytes().splitlines())
    files = size = 0
    for start in range(0, total, LINES_PER_FILE):
        project = folder / f"-work-project-{files % 10}"
        project.mkdir(parents=True, exist_ok=True)
        data = b"".join(next(source) + b"\n" for _ in range(min(LINES_PER_FILE, total - start)))
        (project / f"{uuid.uuid4()}.jsonl").write_bytes(data)
        files, size = files + 1, size + len(data)
    return files, size


async def drop_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics([settings.topic(spec.name) for spec in TOPICS])
    finally:
        await admin.close()


async def time_publish(settings: Settings, folder: Path, keep_content: bool) -> dict[str, float]:
    run = settings.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}"})
    started = time.perf_counter()
    summary = await publish(
        run, PublishRequest(paths=(str(folder),), source="claude-transcript", keep_content=keep_content)
    )
    elapsed = time.perf_counter() - started
    await drop_topics(run)
    return {
        "lines": summary.lines,
        "seconds": round(elapsed, 2),
        "lines_per_s": round(summary.lines / elapsed),
        "input_mb_per_s": round(summary.bytes / elapsed / 1e6, 1),
        "left_in_spool": summary.spooled,
    }


def time_redaction(folder: Path) -> dict[str, float]:
    lines = [line for path in sorted(folder.rglob("*.jsonl")) for line in path.read_bytes().splitlines()]
    started = time.perf_counter()
    out = sum(len(redact_line(line, "claude-transcript").value) for line in lines)
    elapsed = time.perf_counter() - started
    size = sum(map(len, lines))
    return {
        "lines_per_s": round(len(lines) / elapsed),
        "input_mb_per_s": round(size / elapsed / 1e6, 1),
        "bytes_kept_pct": round(100 * out / size, 1),
    }


def median_wall(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_run(settings: Settings, runs: int) -> dict[str, float]:
    import os

    with tempfile.TemporaryDirectory() as state:
        env = {
            **os.environ,
            "SPENDSTREAM_STATE_DIR": state,
            "SPENDSTREAM_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        }
        wrap = [sys.executable, "-m", "spendstream.cli", "run", "--format", "claude-json", "--"]
        fake = [sys.executable, str(FAKE_CLI), "--emit", str(RESULT)]
        subprocess.run([*wrap, *fake], env=env, stdout=subprocess.DEVNULL, check=True)  # creates the topic
        figures = {
            "fake_cli_s": median_wall(fake, runs),
            "wrapped_fake_cli_s": median_wall([*wrap, *fake], runs, env),
            "true_s": median_wall(["true"], runs),
            "wrapped_true_s": median_wall([*wrap, "true"], runs, env),
            "spendstream_help_s": median_wall([sys.executable, "-m", "spendstream.cli", "--help"], runs),
        }
        asyncio.run(
            drop_topics(settings.model_copy(update={"topic_prefix": env["SPENDSTREAM_TOPIC_PREFIX"]}))
        )
    figures["overhead_s"] = figures["wrapped_fake_cli_s"] - figures["fake_cli_s"]
    return {k: round(v, 3) for k, v in figures.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--only", choices=("publish", "run"), default=None, help="one half of the figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(state_dir=Path(tmp) / "state")
        results: dict[str, Any] = {}
        if args.only != "run":
            corpus = Path(tmp) / "projects"
            files, size = make_corpus(corpus, args.lines)
            results["corpus"] = {"files": files, "lines": args.lines, "mb": round(size / 1e6, 1)}
            results["publish_redacted"] = asyncio.run(time_publish(settings, corpus, keep_content=False))
            results["publish_keep_content"] = asyncio.run(time_publish(settings, corpus, keep_content=True))
            results["redaction_only"] = time_redaction(corpus)
        if args.only != "publish":
            results["run_overhead"] = time_run(settings, args.runs)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for section, figures in results.items():
            print(f"{section}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
