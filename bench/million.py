"""``python -m bench.million``: worker memory after one million usage events.

A fresh worker gets ``--events`` claude-json results (one usage event each, every one a
new result id) over ``--sessions`` session scopes under ``--roots`` roots, packed 500 lines
a record as ``spendstream publish`` sends them, in chunks of ``--chunk`` lines. After each
chunk it waits until the worker has turned every line into a usage event and samples the
worker's RSS and its state keys (``/metrics``). Nothing expires during the run (the TTLs
are days), so this is the worker's memory holding one million identities.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.kafka_tools import (
    RawRecord,
    delete_prefix,
    fresh_settings,
    make_fast_producer,
    publish,
    remove_tree,
    start_worker,
    worker_metrics,
)
from bench.pipeline import result_line
from bench.report import load, machine
from config.kafka import RAW
from schemas.raw import encode_record
from schemas.sources import LineContext

PACK = 500
Sample = tuple[int, float, float, dict[str, int]]  # events, seconds, RSS MiB, state keys


def records(first: int, count: int, sessions: int, roots: int) -> list[RawRecord]:
    """Lines ``first .. first+count-1``: line n is result n of session n mod ``sessions``."""
    now = datetime.now(UTC)
    by_session: dict[int, list[bytes]] = {}
    for n in range(first, first + count):
        by_session.setdefault(n % sessions, []).append(result_line(f"m-{n % sessions}", n))
    out = []
    for session, lines in by_session.items():
        stream = f"million:m-{session}:{first}"
        lineage = (f"root-{session % roots}",) if session >= roots else ()
        for start in range(0, len(lines), PACK):
            pack = lines[start : start + PACK]
            context = LineContext("claude-json", "bench", stream, start + 1, now, lineage=lineage)
            out.append(RawRecord(*encode_record(context, pack), len(pack)))
    return out


async def run(args: argparse.Namespace) -> tuple[list[Sample], str]:
    settings, tmp = fresh_settings("million")
    worker = await start_worker(settings, tmp / "worker.log")
    assert worker.proc is not None
    process = psutil.Process(worker.proc.pid)
    producer = make_fast_producer(settings)
    await producer.start()
    samples: list[Sample] = []
    started = time.perf_counter()
    try:
        samples.append((0, 0.0, process.memory_info().rss / 2**20, {}))
        for first in range(0, args.events, args.chunk):
            count = min(args.chunk, args.events - first)
            await publish(producer, settings.topic(RAW), records(first, count, args.sessions, args.roots))
            metrics: dict[str, object] = {}
            while int(str(metrics.get("usage_events", 0))) < first + count:
                await asyncio.sleep(1.0)
                metrics = await worker_metrics(settings) or {}
                if not worker.alive():
                    raise RuntimeError(f"worker exited, see {worker.log_path}")
            state = metrics.get("state") or {}
            keys = {name: int(v["keys"]) for name, v in state.items()} if isinstance(state, dict) else {}
            sample = (first + count, time.perf_counter() - started, process.memory_info().rss / 2**20, keys)
            samples.append(sample)
            print(
                f"{sample[0]:>9,} events  {sample[1]:6.0f} s  RSS {sample[2]:7.1f} MiB  {keys}",
                flush=True,
            )
        return samples, load()
    finally:
        await producer.stop()
        worker.terminate()
        with contextlib.suppress(Exception):
            await delete_prefix(settings)
        remove_tree(tmp)


def render(args: argparse.Namespace, samples: list[Sample], before: str, after: str) -> str:
    last = samples[-1]
    per_event = (last[2] - samples[1][2]) * 2**20 / max(last[0] - samples[1][0], 1)
    lines = [
        f"### Worker memory after {args.events:,} usage events ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `python -m bench.million --events {args.events} --sessions {args.sessions} "
        f"--roots {args.roots} --chunk {args.chunk}`",
        f"Machine: {machine()}",
        f"Load average (1/5/15 min) before: {before}; after: {after}",
        "",
        f"RSS: {samples[0][2]:.0f} MiB at start, {last[2]:.0f} MiB after {last[0]:,} events "
        f"({last[1]:.0f} s, {last[0] / max(last[1], 1e-9):,.0f} events/s packed); "
        f"growth after the first chunk {per_event:,.0f} bytes per event.",
        "",
        "| usage events | s | worker RSS (MiB) | streams keys | ledger keys | totals keys | windows keys |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for events, seconds, rss, keys in samples:
        cells = " | ".join(f"{keys.get(t, 0):,}" for t in ("streams", "ledger", "totals", "windows"))
        lines.append(f"| {events:,} | {seconds:.0f} | {rss:.1f} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.million", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=20_000, help="session scopes (default 20,000)")
    parser.add_argument("--roots", type=int, default=1_000, help="roots the sessions hang under")
    parser.add_argument("--chunk", type=int, default=100_000, help="lines published between samples")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    before = load()
    samples, after = asyncio.run(run(args))
    text = render(args, samples, before, after)
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
