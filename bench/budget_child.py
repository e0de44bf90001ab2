"""The agent of bench/budget_latency.py: one line that crosses the limit, then wait to be stopped.

    python -m bench.budget_child OUT

Writes ``<crossing_at> <sigterm_at>`` (its own monotonic clock, seconds) to OUT when SIGTERM
arrives. ``crossing_at`` is taken just before the crossing line is written to stdout, so
the figure includes the wrapping run's pass-through and publish path.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import uuid
from types import FrameType


def main(out: str) -> int:
    crossing_at = 0.0

    def stopped(_signum: int, _frame: FrameType | None) -> None:
        at = time.monotonic()
        with open(out, "w") as handle:
            handle.write(f"{crossing_at:.6f} {at:.6f}\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stopped)
    session = str(uuid.uuid4())
    line = {
        "type": "result",
        "session_id": session,
        "uuid": str(uuid.uuid4()),
        "total_cost_usd": 0.10,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    # The run's publisher connects to Kafka as the command starts: the figure is the
    # pipeline's and the guard's, not that connection's.
    time.sleep(1.0)
    crossing_at = time.monotonic()
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    time.sleep(60)
    return 1  # never stopped


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
