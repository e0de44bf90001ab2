"""spendstream vs ccusage on one generated Claude Code history: wall time and session totals.

Run: ``python -m bench.ccusage_compare`` (1 GiB made of the real transcript fixture, the
modes ``parse,report,pipeline``, each local command run ``--repeat`` times alternately with
ccusage, medians compared). ``--size 150M``, ``--modes ledger,parse,report,pipeline``,
``--shape synthetic`` (bench/gen_history.py's generated sessions instead), ``--history DIR``
reuses a history made by either generator.

1. generates the history unless ``--history`` is given: by default copies of the real
   transcript (bench/gen_fixture_history.py, new session, message and request ids per copy);
2. installs ccusage from npm into ``bench/.cache/ccusage`` if it is not there, and runs
   ``ccusage claude session --json --offline --mode calculate`` with ``CLAUDE_CONFIG_DIR``
   set to the history (``--mode calculate``: always price from tokens, as spendstream
   does for transcripts, which carry no cost);
3. runs spendstream on the same files (bench/spendstream_side.py: ``ledger`` in process,
   ``parse`` the command, ``report`` = ``report session --from``, ``pipeline`` = broker +
   worker + publish + lake), its modules byte-compiled first as an install has them
   (``compile_project``: with ``PYTHONDONTWRITEBYTECODE`` set a checkout never caches any);
4. compares per-session tokens by type and cost with each other and with the
   generator's expected values, prints a table, the ratios to ccusage (speed for the
   local commands, time for the pipeline) and writes them as a markdown fragment.

ccusage 20.x ships a native binary per platform as an optional npm dependency; 20.0.26
was published without the linux-x64 one, so the default is pinned (``--ccusage-version``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import orjson

from bench import gen_fixture_history, gen_history
from bench.gen_history import parse_size
from bench.spendstream_side import (
    REPO,
    Measured,
    SessionTotals,
    compile_project,
    run_ledger,
    run_parse_command,
    run_pipeline,
    run_report_command,
)
from config import broker as local_broker
from config.settings import Settings

CCUSAGE_VERSION = "20.0.24"
COST_TOLERANCE = Decimal("0.000001")  # ccusage sums floats; spendstream and the generator are exact


def ensure_ccusage(cache: Path, version: str) -> Path:
    """The ccusage executable under ``cache``, installed with npm when missing."""
    binary = cache / "node_modules" / ".bin" / "ccusage"
    if (
        binary.exists()
        and subprocess.run([binary, "--version"], capture_output=True, check=False).returncode == 0
    ):
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm was not found on PATH: install Node.js 20+ (with npm) to run ccusage")
    cache.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--save-exact", "--prefix", str(cache),
         f"ccusage@{version}"],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    if installed.returncode != 0:
        tail = (installed.stdout + installed.stderr)[-2000:]
        raise SystemExit(f"npm could not install ccusage@{version} into {cache}:\n{tail}")
    if subprocess.run([binary, "--version"], capture_output=True, check=False).returncode != 0:
        raise SystemExit(f"ccusage@{version} installed but does not run here (native binary missing?)")
    return binary


def run_ccusage(binary: Path, history: Path) -> Measured:
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(history), "NO_COLOR": "1"}
    args = [str(binary), "claude", "session", "--json", "--offline", "--mode", "calculate"]
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, check=True)
    measured = Measured(proc_version(binary) or "ccusage", time.perf_counter() - started)
    for row in orjson.loads(proc.stdout)["sessions"]:
        totals = measured.sessions.setdefault(row["sessionId"], SessionTotals(split_known=False))
        totals.input += row["inputTokens"]
        totals.output += row["outputTokens"]
        totals.cache_read += row["cacheReadTokens"]
        totals.cache_write_5m += row["cacheCreationTokens"]  # one number: 5m and 1h together
        totals.cost += Decimal(str(row["totalCost"]))
    return measured


def proc_version(binary: Path) -> str:
    return subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.strip()


def load_expected(history: Path) -> tuple[dict[str, SessionTotals], dict[str, int]]:
    document = orjson.loads((history / "expected.json").read_bytes())
    sessions = {
        sid: SessionTotals(
            s["input"],
            s["output"],
            s["cache_read"],
            s["cache_write_5m"],
            s["cache_write_1h"],
            s["web_search"],
            Decimal(s["cost_usd"]),
        )
        for sid, s in document["sessions"].items()
    }
    return sessions, {"files": document["files"], "lines": document["lines"], "bytes": document["bytes"]}


def agreement(got: dict[str, SessionTotals], want: dict[str, SessionTotals]) -> tuple[int, int, list[str]]:
    """(sessions with equal tokens, sessions with equal cost, notes on what differs)."""
    tokens_ok = cost_ok = 0
    fields: dict[str, int] = {}
    for sid, expected in want.items():
        actual = got.get(sid, SessionTotals())
        names = ["input", "output", "cache_read", "cache_write"]
        if actual.split_known:
            names += ["cache_write_5m", "cache_write_1h", "web_search"]
        wrong = [n for n in names if getattr(actual, n) != getattr(expected, n)]
        for name in wrong:
            fields[name] = fields.get(name, 0) + 1
        tokens_ok += not wrong
        cost_ok += abs(actual.cost - expected.cost) <= COST_TOLERANCE
    notes = [f"{name} differs in {count} sessions" for name, count in sorted(fields.items())]
    extra = set(got) - set(want)
    if extra:
        notes.append(f"{len(extra)} sessions not in the expected set")
    return tokens_ok, cost_ok, notes


def render(results: list[Measured], want: dict[str, SessionTotals], info: dict[str, int], title: str) -> str:
    mib = info["bytes"] / 2**20
    want_cost = sum((s.cost for s in want.values()), Decimal(0))
    head = [
        f"### {title}",
        "",
        f"History: {info['files']:,} files, {info['lines']:,} lines, {mib:,.1f} MiB, {len(want):,} sessions; "
        f"expected total cost ${want_cost:.6f}. Machine: {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}.",
        "",
        "| tool | wall s | lines/s | MiB/s | sessions: tokens agree | cost agrees | total cost "
        "| Δ vs expected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows, notes = [], []
    for m in results:
        tokens_ok, cost_ok, diffs = agreement(m.sessions, want) if m.sessions else (0, 0, [])
        cost = sum((s.cost for s in m.sessions.values()), Decimal(0))
        rate = info["lines"] / m.seconds if m.seconds else 0.0
        speed = mib / m.seconds if m.seconds else 0.0
        rows.append(
            f"| {m.name} | {m.seconds:,.2f} | {rate:,.0f} | {speed:,.1f} | {tokens_ok}/{len(want)} | "
            f"{cost_ok}/{len(want)} | ${cost:.6f} | ${cost - want_cost:+.6f} |"
        )
        notes += [f"- {m.name}: {note}" for note in [*diffs, *m.notes]]
    return "\n".join([*head, *rows, "", *notes, ""])


async def _delete_topics(broker: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def pipeline_broker() -> str:
    """Bootstrap servers from the settings (SPENDSTREAM_*), the local broker started if needed."""
    settings = Settings()
    local_broker.start(settings)  # a no-op with SPENDSTREAM_BROKER or a running local broker
    return settings.bootstrap_servers


def _median(runs: list[Measured]) -> Measured:
    """The run of median wall time, noting every run's time."""
    ordered = sorted(runs, key=lambda m: m.seconds)
    chosen = ordered[len(ordered) // 2]
    if len(runs) > 1:
        chosen.notes.append("runs: " + ", ".join(f"{m.seconds:.2f}s" for m in runs) + " (median shown)")
    return chosen


def _counts(text: str) -> tuple[int, ...]:
    """``1,2`` -> (1, 2): worker counts, each at least 1."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"worker counts separated by commas, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"worker counts are at least 1, got {text!r}")
    return counts


def ratios(results: list[Measured]) -> list[str]:
    """ccusage's time over each local command's (its speed relative to ccusage), and the
    pipeline's time over ccusage's."""
    base = results[0].seconds
    lines = []
    for m in results[1:]:
        if "pipeline" in m.name:
            lines.append(f"- {m.name}: {m.seconds / base:.1f}x ccusage's time (aim: at most 10x)")
        else:
            lines.append(f"- {m.name}: {base / m.seconds:.2f}x ccusage's speed (aim: at least 2x)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--history", type=Path, default=None, help="an existing generated history")
    parser.add_argument("--size", type=parse_size, default=parse_size("1G"), help="size to generate")
    parser.add_argument(
        "--shape",
        choices=("fixture", "synthetic"),
        default="fixture",
        help="copies of the real transcript (default) or bench/gen_history.py's sessions",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new one in /tmp)")
    parser.add_argument("--modes", default="parse,report,pipeline", help="spendstream modes to run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ccusage and each local mode")
    parser.add_argument(
        "--broker",
        default=None,
        help="bootstrap servers for the pipeline mode (default: SPENDSTREAM_BROKER, else the local "
        "broker of SPENDSTREAM_STATE_DIR / SPENDSTREAM_LOCAL_BROKER_PORT, started if it is not running)",
    )
    parser.add_argument("--pipeline-timeout", type=float, default=1800.0)
    parser.add_argument(
        "--pipeline-workers",
        type=_counts,
        default=(1,),
        help="workers in the pipeline mode (one consumer group); a list such as 1,2 runs the "
        "pipeline once per count, on fresh topics each time",
    )
    parser.add_argument(
        "--pipeline-supervised",
        action="store_true",
        help="run the workers under their supervisor (restarted after a fail-stop, as in production)",
    )
    parser.add_argument(
        "--pipeline-sink-process",
        action="store_true",
        help="the workers run with --no-sink and the lake gets a process of its own "
        "(spendstream worker --sink-only), on the core the workers leave",
    )
    parser.add_argument(
        "--pipeline-fetch-wait-ms",
        type=int,
        default=None,
        help="the workers' SPENDSTREAM_FETCH_MAX_WAIT_MS (default: the setting's default, Faust's 1500)",
    )
    parser.add_argument(
        "--pipeline-partitions",
        type=int,
        default=None,
        help="partitions of its topics (default: SPENDSTREAM_PARTITIONS' default)",
    )
    parser.add_argument("--ccusage-version", default=CCUSAGE_VERSION)
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / ".cache" / "ccusage")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here too")
    parser.add_argument("--keep", action="store_true", help="keep the generated history and topics")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ccbench-", dir="/tmp"))
    history = args.history
    if history is None:
        history = work / "history"
        started = time.perf_counter()
        make = gen_fixture_history.generate if args.shape == "fixture" else gen_history.generate
        make(history, args.size, args.seed)
        print(f"generated {history} ({args.shape}) in {time.perf_counter() - started:.1f}s")
    want, info = load_expected(history)
    modes = set(args.modes.split(","))
    binary = ensure_ccusage(args.cache, args.ccusage_version)
    local = {"parse": run_parse_command, "report": run_report_command}
    if modes & {*local, "pipeline"} and compile_project():
        print("compiled the project's modules to bytecode first, as an install does (compile_project)")
    runs: dict[str, list[Measured]] = {"ccusage": [], **{m: [] for m in local if m in modes}}
    for _ in range(max(1, args.repeat)):  # alternately, so that both see the same machine
        runs["ccusage"].append(run_ccusage(binary, history))
        print(f"{runs['ccusage'][-1].name}: {runs['ccusage'][-1].seconds:.2f}s")
        for mode, run in local.items():
            if mode in modes and (measured := run(history)) is not None:
                runs[mode].append(measured)
                print(f"{measured.name}: {measured.seconds:.2f}s")
    results = [_median(found) for found in runs.values() if found]
    if "ledger" in modes:
        results.append(run_ledger(history))
        print(f"{results[-1].name}: {results[-1].seconds:.1f}s")
    if "pipeline" in modes:
        args.broker = args.broker or pipeline_broker()
        expected_output = sum(s.output for s in want.values())
        for workers in args.pipeline_workers:
            results.append(
                run_pipeline(
                    history,
                    work / f"pipeline-{workers}",
                    args.broker,
                    expected_output,
                    args.pipeline_timeout,
                    workers,
                    args.pipeline_partitions,
                    args.pipeline_supervised,
                    args.pipeline_sink_process,
                    args.pipeline_fetch_wait_ms,
                )
            )
            print(f"{results[-1].name}: {results[-1].seconds:.1f}s")
            if not args.keep:
                notes = results[-1].notes
                prefix = next((n.split()[1].removesuffix(".*") for n in notes if n.startswith("topics ")), "")
                if prefix:
                    asyncio.run(_delete_topics(args.broker, prefix + "."))
    title = (
        f"ccusage vs spendstream, {info['bytes'] / 2**20:,.0f} MiB {args.shape} history (seed {args.seed})"
    )
    text = render(results, want, info, title) + "\nRatios (medians):\n\n" + "\n".join(ratios(results)) + "\n"
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    if args.history is None and not args.keep:
        shutil.rmtree(history, ignore_errors=True)


if __name__ == "__main__":
    main()
