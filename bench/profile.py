"""py-spy on the worker: record raw stacks, then group the samples by who spends them."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"  # installed beside the running Python

# Checked in order against a frame (py-spy prints paths relative to sys.path, e.g.
# ``write_table (pyarrow/parquet/core.py:1)``); the first match names the layer.
IDLE = "idle (event loop waiting in select)"
LAYERS = (
    (IDLE, ("select (selectors.py",)),
    ("parquet sink: sinks/ + pyarrow", ("(sinks/", "(pyarrow/", "(duckdb")),
    ("our code: streams/", ("(streams/",)),
    ("our code: schemas/", ("(schemas/",)),
    ("our code: spendstream/", ("(spendstream/",)),
    ("aiokafka/kafka", ("(aiokafka/", "(kafka/")),
    ("faust/mode", ("(faust/", "(mode/")),
    ("asyncio/threads (scheduling)", ("(asyncio/", "(concurrent/", "(threading.py", "(selectors.py")),
)


# Layers whose functions are listed by inclusive time (the entry point spendstream/ would top it).
OWN_LAYERS = ("our code: streams/", "our code: schemas/", "parquet sink")


def layer_of(frame: str) -> str:
    for name, needles in LAYERS:
        if any(n in frame for n in needles):
            return name
    return "other (stdlib, idle, ...)"


class Recorder:
    """``py-spy record -f raw`` on a running process until :meth:`stop`."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.out = out
        cmd = [
            str(PY_SPY),
            "record",
            "-p",
            str(pid),
            "-f",
            "raw",
            "-o",
            str(out),
            "-r",
            str(rate),
            "--nonblocking",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.decode(errors="replace")[-500:]


@dataclass
class Profile:
    samples: int
    self_by_layer: Counter[str]
    inclusive_by_layer: Counter[str]
    self_by_function: Counter[str]
    inclusive_ours: Counter[str]
    main_samples: int = 0
    main_self_by_layer: Counter[str] = field(default_factory=Counter)


def summarize(raw: Path) -> Profile:
    """Self samples per layer and per leaf function; inclusive samples per layer and per own function."""
    total = main = 0
    main_layer: Counter[str] = Counter()
    self_layer: Counter[str] = Counter()
    incl_layer: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_ours: Counter[str] = Counter()
    for row in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = row.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        self_layer[layer_of(leaf)] += count
        if frames[0].startswith("_run_module_as_main"):  # the event loop's thread, not the sink's pool
            main += count
            main_layer[layer_of(leaf)] += count
        self_fn[_short(leaf)] += count
        for name in {layer_of(f) for f in frames}:
            incl_layer[name] += count
        for fn in {_short(f) for f in frames if layer_of(f).startswith(OWN_LAYERS)}:
            incl_ours[fn] += count
    return Profile(total, self_layer, incl_layer, self_fn, incl_ours, main, main_layer)


def _short(frame: str) -> str:
    """``fn (path/to/file.py:12)`` -> ``fn (file.py)``."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 2)
    return f"{name} ({'/'.join(file[-2:])})"
