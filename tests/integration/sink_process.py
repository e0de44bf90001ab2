"""The usage lake sink alone as a child process, so a test can SIGKILL it while it writes.

``python -m tests.integration.sink_process`` builds the settings from ``SPENDSTREAM_*`` (see
``harness.settings_env``), runs ``usage_sink`` until SIGTERM, then prints its stats as one
JSON line. No Faust app: the test produces usage events itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import subprocess
import sys
from pathlib import Path

import orjson

from config.settings import Settings
from sinks.kafka_sink import usage_sink
from tests.integration.harness import settings_env

STATS_PREFIX = "sink-stats: "


async def _serve(settings: Settings) -> None:
    sink = usage_sink(settings)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, sink.stop)
    await sink.run()
    print(STATS_PREFIX + orjson.dumps(dataclasses.asdict(sink.stats)).decode(), flush=True)


class SinkProcess:
    """One run of the sink process; ``kill`` is SIGKILL, ``stop`` is SIGTERM and returns the stats."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.sink_process"],
                env=settings_env(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        lines = self.log_path.read_text().splitlines()
        stats = [line.removeprefix(STATS_PREFIX) for line in lines if line.startswith(STATS_PREFIX)]
        assert stats, "\n".join(lines[-40:])
        result: dict[str, int] = orjson.loads(stats[-1])
        return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_serve(Settings()))
