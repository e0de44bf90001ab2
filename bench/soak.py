"""``python -m bench.soak --minutes 10``: steady load on one worker, memory and lag sampled.

A fresh worker (fresh topics) gets ``--rate`` live lines/s (claude-json results, each its
new result id, a new session scope every second under one of ``--roots`` roots) for
``--minutes``. Every ``--every`` seconds it samples the worker's RSS, its consumer lag
(end offsets minus the worker group's committed offsets, over the raw, observations and
deltas topics), /metrics and the live keys of every state table. ``--ttl`` sets the worker's
dedup and stream TTLs (SPENDSTREAM_DEDUP_TTL_SECONDS, SPENDSTREAM_STREAM_TTL_SECONDS) so
the run shows memory levelling off at the TTL bound. Prints a table and writes ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.kafka_tools import (
    REPO,
    delete_prefix,
    fresh_settings,
    group_lag,
    make_fast_producer,
    remove_tree,
    start_worker,
    worker_metrics,
)
from bench.pipeline import result_line
from bench.report import load, machine
from config.kafka import DELTAS, OBSERVATIONS, RAW
from config.settings import Settings
from schemas.raw import encode_record
from schemas.sources import LineContext

# seconds, RSS MiB, lag, raw records, usage events, live keys per state table
Sample = tuple[float, float, int, int, int, dict[str, int]]
TABLES = ("streams", "ledger", "totals", "windows")


async def offer(settings: Settings, rate: float, seconds: float, roots: int, sent: list[int]) -> None:
    """Offer ``rate`` lines/s: each line a new result (new dedup id); a new session every second."""
    lines_per_session = max(1, int(rate))
    producer = make_fast_producer(settings)
    await producer.start()
    run = uuid.uuid4().hex[:6]
    try:
        started = time.perf_counter()
        n = 0
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate)
            while n < due:
                session, position = divmod(n, lines_per_session)
                root = f"soak{run}-root{session % roots}"
                scope = f"{root}/s{session}"
                context = LineContext(
                    "claude-json", "bench", f"soak:{scope}", position + 1, datetime.now(UTC), lineage=(root,)
                )
                key, value, headers = encode_record(context, [result_line(scope, n)])
                await producer.send(settings.topic(RAW), value, key=key, headers=headers)
                n += 1
                sent[0] = n
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()


async def soak(args: argparse.Namespace) -> tuple[list[Sample], int, str]:
    settings, tmp = fresh_settings("soak")
    if args.ttl is not None:
        settings = settings.model_copy(update={"dedup_ttl_seconds": args.ttl, "stream_ttl_seconds": args.ttl})
    group = f"{settings.topic_prefix}-worker"
    topics = [settings.topic(t) for t in (RAW, OBSERVATIONS, DELTAS)]
    worker = await start_worker(settings, tmp / "worker.log")
    assert worker.proc is not None
    process = psutil.Process(worker.proc.pid)
    samples: list[Sample] = []
    sent = [0]
    try:
        load_task = asyncio.ensure_future(offer(settings, args.rate, args.minutes * 60, args.roots, sent))
        started = time.perf_counter()
        while not load_task.done():
            await asyncio.sleep(max(0.0, started + (len(samples) + 1) * args.every - time.perf_counter()))
            metrics = await worker_metrics(settings) or {}
            state = metrics.get("state") or {}
            sample = (
                time.perf_counter() - started,
                process.memory_info().rss / 2**20,
                await group_lag(settings, group, topics),
                int(metrics.get("raw_records", 0)),
                int(metrics.get("usage_events", 0)),
                {name: int(state.get(name, {}).get("keys", 0)) for name in TABLES},
            )
            samples.append(sample)
            print(
                f"{sample[0]:6.0f} s  RSS {sample[1]:6.1f} MiB  lag {sample[2]:6,}  "
                f"raw {sample[3]:8,}  usage {sample[4]:8,}  keys {sample[5]}",
                flush=True,
            )
        await load_task
        return samples, sent[0], load()
    finally:
        worker.terminate()
        with contextlib.suppress(Exception):
            await delete_prefix(settings)
        remove_tree(tmp)


def render(
    args: argparse.Namespace, samples: list[Sample], sent: int, load_before: str, load_after: str
) -> str:
    rss = [s[1] for s in samples]
    lags = [s[2] for s in samples]
    half = len(rss) // 2
    first_half = sum(rss[:half]) / max(half, 1)
    second_half = sum(rss[half:]) / max(len(rss) - half, 1)
    lines = [
        f"### Soak: {args.minutes:g} min at {args.rate:g} lines/s offered, one worker "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `python -m bench.soak --minutes {args.minutes:g} --rate {args.rate:g} "
        f"--every {args.every:g}" + (f" --ttl {args.ttl:g}`" if args.ttl is not None else "`"),
        "Worker TTLs: "
        + (f"dedup and stream state {args.ttl:g} s." if args.ttl is not None else "defaults (7 d / 90 d)."),
        f"Machine: {machine()}",
        f"Load average (1/5/15 min) before: {load_before}; after: {load_after}",
        f"Lines offered: {sent:,} (claude-json results, each a new result id; "
        f"a new session scope every second, under {args.roots} roots).",
        "",
        f"RSS: first {rss[0]:.1f} MiB, max {max(rss):.1f} MiB, last {rss[-1]:.1f} MiB; "
        f"mean of first half {first_half:.1f} MiB, second half {second_half:.1f} MiB.",
        f"Lag (raw + observations + deltas, records): max {max(lags):,}, last {lags[-1]:,}.",
        "",
        "| t (s) | worker RSS (MiB) | lag (records) | raw records | usage events | "
        + " | ".join(f"{t} keys" for t in TABLES)
        + " |",
        "|---:|---:|---:|---:|---:|" + "---:|" * len(TABLES),
    ]
    lines += [
        f"| {t:.0f} | {r:.1f} | {lag:,} | {raw:,} | {use:,} | "
        + " | ".join(f"{keys.get(name, 0):,}" for name in TABLES)
        + " |"
        for t, r, lag, raw, use, keys in samples
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="offered lines/s")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--roots", type=int, default=50)
    parser.add_argument(
        "--ttl", type=float, default=None, help="worker dedup and stream TTL in seconds (default: 7 d / 90 d)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak.md")
    args = parser.parse_args()
    before = load()
    samples, sent, after = asyncio.run(soak(args))
    text = render(args, samples, sent, before, after)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
