"""The settings of the broker-less commands (``parse``, ``report``), read without pydantic
when that gives exactly what :class:`config.settings.Settings` gives.

Importing pydantic and pydantic-settings and building ``Settings`` costs about 100 ms
before ``parse`` or ``report --from`` can fork its workers: a tenth of either on a 1 GiB
history. These commands read four settings (``runner_id``, ``cost_mode``,
``prices_file``, ``data_dir``). :func:`local_settings` reads them from the environment
as ``Settings`` does, and gives None (the caller then builds ``Settings``) whenever the
environment holds anything it does not read the same way for sure:

- a ``SPENDSTREAM_*`` variable naming another field of ``Settings`` (``Settings`` would
  validate it, and may refuse it: the full path says so, the same way for every command);
- a variable of those four not spelled in capitals (``Settings`` matches names
  regardless of case);
- a value ``Settings`` might read otherwise or refuse: an empty one, a runner id of more
  than 200 characters or of bytes that are not UTF-8, a cost mode it does not name.

Variables that name no field (``SPENDSTREAM_CACHE_DIR``, read by schemas/price_cache.py)
are ignored, as ``Settings`` (``extra="ignore"``) ignores them.
tests/unit/config/test_local_settings.py checks the field list against ``Settings`` and
the values against ``Settings`` on generated environments.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

PREFIX = "SPENDSTREAM_"
# Every field of config.settings.Settings (a test keeps this list equal to its fields).
SETTINGS_FIELDS = frozenset(
    {
        "auth_mode",
        "batch_max_records",
        "batch_max_seconds",
        "broker",
        "commit_interval_seconds",
        "cost_mode",
        "data_dir",
        "dedup_ttl_seconds",
        "fetch_max_wait_ms",
        "local_broker_heap",
        "local_broker_port",
        "local_broker_secure",
        "local_controller_port",
        "max_record_bytes",
        "pack_max_bytes",
        "pack_max_lines",
        "partitions",
        "prices_file",
        "producer_retry_max_seconds",
        "producer_timeout_seconds",
        "replication_factor",
        "runner_id",
        "runner_key",
        "runner_secret",
        "sasl_mechanism",
        "sasl_password",
        "sasl_username",
        "security_protocol",
        "serve_token",
        "sink_flush_seconds",
        "sink_max_bytes",
        "sink_max_rows",
        "sink_max_span_seconds",
        "spool_dir",
        "spool_max_bytes",
        "spool_segment_bytes",
        "ssl_cafile",
        "state_dir",
        "stream_ttl_seconds",
        "topic_prefix",
        "watch_poll_seconds",
        "web_bind",
        "web_port",
        "window_grace_seconds",
        "window_sizes_seconds",
        "worker_token",
        "worker_url",
    }
)
# Settings.cost_mode's values (schemas.pricing.CostMode, which config does not import).
CostMode = Literal["reported", "computed", "reported-only"]
COST_MODES: tuple[CostMode, ...] = ("reported", "computed", "reported-only")
LOCAL_FIELDS = frozenset({"runner_id", "cost_mode", "prices_file", "data_dir"})
# Settings' bounds and defaults of those fields.
MAX_RUNNER_ID = 200
DEFAULT_COST_MODE: CostMode = "reported"
DEFAULT_DATA_DIR = Path(".spendstream/lake")


class LocalReadSettings(Protocol):
    """What ``parse`` and ``report`` read of their settings (``Settings`` has all of it)."""

    @property
    def runner_id(self) -> str: ...

    @property
    def cost_mode(self) -> CostMode: ...

    @property
    def prices_file(self) -> Path | None: ...

    @property
    def data_dir(self) -> Path: ...


@dataclass(frozen=True)
class LocalSettings:
    runner_id: str
    cost_mode: CostMode = DEFAULT_COST_MODE
    prices_file: Path | None = None
    data_dir: Path = DEFAULT_DATA_DIR


def default_runner_id() -> str:
    """Settings' default runner id: the host name."""
    return socket.gethostname() or "unknown-runner"


def _utf8(text: str) -> bool:
    """Whether ``text`` is valid Unicode: an environment value of invalid UTF-8 bytes holds
    lone surrogates, which ``Settings`` refuses for a string field."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def local_settings(environ: Mapping[str, str]) -> LocalSettings | None:
    """The four settings as ``Settings`` reads them from ``environ``, or None when the
    module's rules send the caller to ``Settings``."""
    values: dict[str, str] = {}
    for name, value in environ.items():
        if not name.upper().startswith(PREFIX):
            continue
        field = name[len(PREFIX) :].lower()
        if field not in SETTINGS_FIELDS:
            continue
        if field not in LOCAL_FIELDS or name != name.upper() or not value:
            return None
        values[field] = value
    runner_id = values.get("runner_id")
    if runner_id is not None and (len(runner_id) > MAX_RUNNER_ID or not _utf8(runner_id)):
        return None
    modes = [mode for mode in COST_MODES if mode == values.get("cost_mode", DEFAULT_COST_MODE)]
    if not modes:
        return None
    prices_file = values.get("prices_file")
    return LocalSettings(
        runner_id=runner_id if runner_id is not None else default_runner_id(),
        cost_mode=modes[0],
        prices_file=None if prices_file is None else Path(prices_file),
        data_dir=Path(values["data_dir"]) if "data_dir" in values else DEFAULT_DATA_DIR,
    )
