"""The benchmark's output: one markdown document with the machine, versions, command and tables."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import psutil

from bench.kafka_tools import REPO, TableSize
from bench.mix import Workload
from bench.pipeline import Latency, Throughput
from bench.profile import Profile


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM; "
        f"Python {platform.python_version()}, faust-streaming {version('faust-streaming')}, "
        f"aiokafka {version('aiokafka')}, Kafka 3.9.1 (local single broker); "
        f"repo at {commit} (shared working tree, may hold uncommitted changes)"
    )


class Report:
    def __init__(self, command: str) -> None:
        self.command = command
        self.started = datetime.now(UTC)
        self.load_before = load()
        self.rows: list[tuple[str, str, str]] = []
        self.notes: list[str] = []
        self.extra: list[str] = []
        self.rates: dict[str, float] = {}

    def row(self, section: str, figure: str, value: str) -> None:
        self.rows.append((section, figure, value))
        print(f"  {section:10} {figure:55} {value}", flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def workload(self, work: Workload, live: int, packed: int) -> None:
        mixes = ", ".join(f"{k} {v:,}" for k, v in sorted(work.by_source().items()))
        self.row("workload", "raw lines (by source)", f"{work.lines:,} ({mixes})")
        self.row("workload", "records live / backfill", f"{live:,} / {packed:,}")
        self.row(
            "workload",
            "generated history",
            f"{work.generated_bytes / 2**20:.1f} MiB, {len(work.streams):,} streams incl. fixture copies",
        )

    def throughput(self, label: str, t: Throughput) -> None:
        self.rates[label.split()[0]] = t.lines_per_s
        self.row(
            "pipeline",
            f"{label}: lines/s first publish -> last totals",
            f"{t.lines_per_s:,.0f} ({t.lines:,} lines in {t.to_totals_s:.1f} s)",
        )
        self.row(
            "pipeline",
            f"{label}: lines/s first publish -> last lake file",
            f"{t.lake_lines_per_s:,.0f} ({t.to_lake_s:.1f} s)",
        )
        self.row(
            "pipeline",
            f"{label}: publisher alone",
            f"{t.lines / t.publish_s:,.0f} lines/s ({t.records:,} records in {t.publish_s:.1f} s)",
        )
        m = t.metrics
        stages = ", ".join(
            f"{s} {v['records']:,} rec/{v['batches']:,} batches/{v['seconds']:.1f} s "
            f"({v.get('waiting_for_acks_seconds', 0.0):.1f} s awaiting acks)"
            for s, v in m.get("stages", {}).items()
        )
        self.row(
            "pipeline",
            f"{label}: /metrics",
            f"raw {m.get('raw_records', 0):,}, outcomes {m.get('records', {})}, "
            f"usage events {m.get('usage_events', 0):,}; {stages}",
        )

    def bare(self, label: str, lines: int, seconds: float) -> None:
        rate = lines / seconds
        self.row(
            "bare",
            f"aiokafka consume->orjson->produce, {label} records",
            f"{rate:,.0f} lines/s ({lines:,} lines in {seconds:.1f} s)",
        )
        mine = next((v for k, v in self.rates.items() if k == label), None)
        if mine is not None:
            self.row("bare", f"ratio pipeline / bare ({label})", f"{mine / rate:.1%}")

    def faust_count(self, records: int, rate: float) -> None:
        self.row(
            "faust", "count-only Faust agent, live records", f"{rate:,.0f} records/s ({records:,} records)"
        )
        if "live" in self.rates:
            self.row(
                "faust", "live pipeline / count-only Faust (aim >= 80%)", f"{self.rates['live'] / rate:.1%}"
            )

    def latency(self, lat: Latency) -> None:
        self.row(
            "latency",
            f"publish -> totals at {lat.rate:,.0f} lines/s offered ({lat.sent:,} lines)",
            f"p50 {lat.pct(50):.0f} ms, p95 {lat.pct(95):.0f} ms, p99 {lat.pct(99):.0f} ms, "
            f"max {max(lat.millis, default=0):.0f} ms; {len(lat.millis):,} seen; "
            f"median of first / last tenth sent {lat.drift()[0]:.0f} / {lat.drift()[1]:.0f} ms",
        )

    def state(self, rss: int, metrics: dict[str, Any], sizes: dict[str, TableSize]) -> None:
        self.row(
            "state",
            "worker RSS after live + latency runs",
            f"{rss / 2**20:.0f} MiB (throughput run: {metrics.get('raw_records', 0):,} raw records, "
            f"{metrics.get('usage_events', 0):,} usage events; plus the latency runs' lines)",
        )
        for name, size in sizes.items():
            self.row(
                "state",
                f"table {name}: live keys / value bytes / changelog records",
                f"{size.entries:,} / {size.value_bytes / 2**20:.2f} MiB / {size.changelog_records:,}",
            )

    def profile(self, p: Profile) -> None:
        if not p.samples:
            self.note("py-spy recorded no samples")
            return
        lines = [
            f"#### py-spy, worker during the live run: {p.samples:,} samples",
            "",
            "| layer | self % | inclusive % |",
            "|---|---:|---:|",
        ]
        for name, count in p.inclusive_by_layer.most_common():
            lines.append(f"| {name} | {p.self_by_layer[name] / p.samples:.1%} | {count / p.samples:.1%} |")
        lines += ["", f"Event-loop thread only ({p.main_samples:,} samples), self time by layer:", ""]
        lines += [f"- {c / max(p.main_samples, 1):.1%} {n}" for n, c in p.main_self_by_layer.most_common()]
        lines += ["", "Top self time by function:", ""]
        lines += [f"- {count / p.samples:.1%} {fn}" for fn, count in p.self_by_function.most_common(15)]
        lines += ["", "Top inclusive time in our code and the sink:", ""]
        lines += [f"- {count / p.samples:.1%} {fn}" for fn, count in p.inclusive_ours.most_common(15)]
        self.extra.append("\n".join(lines))

    def attached(self, section: str, command: str, code: int, text: str) -> None:
        """A bench of its own (million, soak, ccusage): its exit code here, its tables below."""
        self.row(section, f"`{command}`", f"exit {code}, table below")
        self.extra.append(f"#### {section} (`{command}`)\n\n{text.strip()}")

    def render(self) -> str:
        out = [
            f"### python -m bench, {self.started:%Y-%m-%d %H:%M} UTC",
            "",
            f"Command: `{self.command}`",
            f"Machine: {machine()}",
            f"Load average (1/5/15 min) before: {self.load_before}; after: {load()}",
            "",
            "| section | figure | value |",
            "|---|---|---|",
        ]
        out += [f"| {a} | {b} | {c} |" for a, b, c in self.rows]
        out += [""] + [f"- {n}" for n in self.notes] + [""]
        out += [f"{e}\n" for e in self.extra]
        return "\n".join(out)
