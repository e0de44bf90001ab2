"""The one settings object of spendstream, read from ``SPENDSTREAM_*`` environment variables.

Built once at the entry point (the CLI) and passed down; no other module reads the
environment for broker addresses or paths. ``parse`` and ``report`` read their four
settings through config/local_settings.py instead when it gives the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.local_settings import default_runner_id


class Settings(BaseSettings):
    """Configuration for every spendstream command. Each field is ``SPENDSTREAM_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SPENDSTREAM_", frozen=True, extra="ignore")

    broker: str | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_BROKER: bootstrap servers of an existing Kafka cluster (host:port[,...]). "
            "When set, spendstream never starts a broker of its own. When unset, the local "
            "single-node broker managed by `spendstream broker` is used."
        ),
    )
    state_dir: Path = Field(
        default=Path(".spendstream"),
        description=(
            "SPENDSTREAM_STATE_DIR: project-local folder for the local broker (jars, data, logs, "
            "pid) and for producer spools and positions."
        ),
    )
    data_dir: Path = Field(
        default=Path(".spendstream/lake"),
        description="SPENDSTREAM_DATA_DIR: root of the Parquet lake that the sink writes and `query` reads.",
    )
    topic_prefix: str = Field(
        default="spendstream",
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description=(
            "SPENDSTREAM_TOPIC_PREFIX: prefix of every topic and consumer group name, so that two "
            "pipelines can share one cluster."
        ),
    )
    partitions: int = Field(
        default=4,
        ge=1,
        le=256,
        description="SPENDSTREAM_PARTITIONS: partition count used when spendstream creates its topics.",
    )
    replication_factor: int = Field(
        default=1, ge=1, description="SPENDSTREAM_REPLICATION_FACTOR: replication of created topics."
    )
    local_broker_port: int = Field(
        default=9092,
        ge=1,
        le=65535,
        description="SPENDSTREAM_LOCAL_BROKER_PORT: client port of the local broker.",
    )
    local_controller_port: int = Field(
        default=9093,
        ge=1,
        le=65535,
        description="SPENDSTREAM_LOCAL_CONTROLLER_PORT: KRaft controller port of the local broker.",
    )
    local_broker_secure: bool = Field(
        default=False,
        description=(
            "SPENDSTREAM_LOCAL_BROKER_SECURE: start the local broker secured (`broker start "
            "--secure`): TLS + SASL/SCRAM-SHA-512 only, ACLs per role (config/broker_secure.py); its "
            "files live in <state_dir>/kafka/secure/."
        ),
    )
    local_broker_heap: str = Field(
        default="768m", description="SPENDSTREAM_LOCAL_BROKER_HEAP: JVM heap (-Xmx) of the local broker."
    )
    runner_id: str = Field(
        default_factory=default_runner_id,
        min_length=1,
        max_length=200,
        description="SPENDSTREAM_RUNNER_ID: this runner's identity in published records (default: hostname).",
    )
    web_port: int = Field(
        default=6066,
        ge=1,
        le=65535,
        description="SPENDSTREAM_WEB_PORT: HTTP port of the worker's web server.",
    )
    web_bind: str = Field(
        default="127.0.0.1",
        description="SPENDSTREAM_WEB_BIND: address the worker's web server binds (0.0.0.0 in containers).",
    )
    sink_flush_seconds: float = Field(
        default=2.0,
        gt=0,
        description=(
            "SPENDSTREAM_SINK_FLUSH_SECONDS: the longest a usage event waits in the sink's buffer "
            "before it is written to Parquet."
        ),
    )
    sink_max_rows: int = Field(
        default=100_000,
        ge=1,
        description=(
            "SPENDSTREAM_SINK_MAX_ROWS: rows a partition's sink buffer holds at most before it is "
            "written (one file per event date), so rows per Parquet file at most."
        ),
    )
    sink_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description=(
            "SPENDSTREAM_SINK_MAX_BYTES: bytes of Kafka record values a partition's sink buffer holds "
            "at most before it is written (bounds the sink's memory and a file's size; default 64 MiB)."
        ),
    )
    sink_max_span_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description=(
            "SPENDSTREAM_SINK_MAX_SPAN_SECONDS: event-time span of one Parquet file at most, measured "
            "per event date in a partition's buffer; adding an item that would stretch its date's "
            "span past it writes the buffer first. A file never spans more than its UTC date, so the "
            "default (one day) never cuts; lower it for files of finer time ranges, at the cost of "
            "more, smaller files when a backfill interleaves many dates (sinks/policy.py)."
        ),
    )
    window_sizes_seconds: tuple[int, ...] = Field(
        default=(60, 3600),
        min_length=1,
        description=(
            "SPENDSTREAM_WINDOW_SIZES_SECONDS: event-time tumbling window sizes of the windows topic, "
            "as a JSON list (default [60, 3600])."
        ),
    )
    window_grace_seconds: int = Field(
        default=300,
        ge=0,
        description=(
            "SPENDSTREAM_WINDOW_GRACE_SECONDS: how late (behind the highest event time seen) an event "
            "may be and still update its window. Later events count in totals and Parquet only."
        ),
    )
    dedup_ttl_seconds: float = Field(
        default=7 * 24 * 3600.0,
        ge=1,
        description=(
            "SPENDSTREAM_DEDUP_TTL_SECONDS: how long (worker clock) the worker remembers a usage "
            "identity or a window nobody wrote to (default 7 days). The same response reported again "
            "later than this is counted again; windows are final long before (streams/README.md)."
        ),
    )
    stream_ttl_seconds: float = Field(
        default=90 * 24 * 3600.0,
        ge=1,
        description=(
            "SPENDSTREAM_STREAM_TTL_SECONDS: how long (worker clock) the worker remembers a source "
            "stream (its high-water position and parser state) that received no line (default 90 "
            "days). Lines of a stream published again later than this are counted again."
        ),
    )
    commit_interval_seconds: float = Field(
        default=0.2,
        gt=0,
        le=60,
        description=(
            "SPENDSTREAM_COMMIT_INTERVAL_SECONDS: how often the worker commits its input offsets "
            "(after flushing its outputs and table changelogs). A crash replays at most this much "
            "input, which every stage absorbs (outputs are idempotent)."
        ),
    )
    batch_max_records: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description=(
            "SPENDSTREAM_BATCH_MAX_RECORDS: most input records a worker stage handles per batch; "
            "a batch writes each state key once and waits for its outputs once."
        ),
    )
    batch_max_seconds: float = Field(
        default=0.03,
        gt=0,
        le=10,
        description=(
            "SPENDSTREAM_BATCH_MAX_SECONDS: how long a stage waits to fill a batch; bounds the "
            "latency a batch adds under a trickle. Longer batches cost less per line (one "
            "changelog write and one totals record per key per batch): the live bench gave "
            "about 10% more lines/s at 0.03 than at 0.02 (bench/RESULTS.md)."
        ),
    )
    fetch_max_wait_ms: int = Field(
        default=1500,
        ge=10,
        le=30_000,
        description=(
            "SPENDSTREAM_FETCH_MAX_WAIT_MS: how long the broker may hold a worker's fetch when "
            "none of its partitions has new records. The default is Faust's. 100 made a busy "
            "worker about 1.2x faster on a backfill and 1.4x live, but a worker taking over a "
            "dead worker's partitions then stalled more often until its watchdog restarted it "
            "(streams/runner/fetch_wait.py, bench/RESULTS.md)."
        ),
    )
    cost_mode: Literal["reported", "computed", "reported-only"] = Field(
        default="reported",
        description=(
            "SPENDSTREAM_COST_MODE: reported = the CLI's cost, computed from the bundled price table "
            "when the CLI reports none; computed = always from the price table; reported-only = "
            "only the CLI's cost (unreported usage is unpriced)."
        ),
    )
    prices_file: Path | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_PRICES_FILE: a JSON price file in the shape of schemas/pricing.json whose "
            "models (whole entries) and aliases override or extend the bundled price table, e.g. "
            "for a negotiated rate or a model newer than the table. Unset: the bundled table only."
        ),
    )
    security_protocol: str = Field(
        default="PLAINTEXT",
        pattern=r"^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$",
        description="SPENDSTREAM_SECURITY_PROTOCOL: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    )
    sasl_mechanism: str | None = Field(
        default=None, description="SPENDSTREAM_SASL_MECHANISM: e.g. SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    sasl_username: str | None = Field(default=None, description="SPENDSTREAM_SASL_USERNAME.")
    sasl_password: SecretStr | None = Field(
        default=None, description="SPENDSTREAM_SASL_PASSWORD (never printed)."
    )
    ssl_cafile: Path | None = Field(
        default=None, description="SPENDSTREAM_SSL_CAFILE: CA bundle that signs the brokers' certificates."
    )
    spool_dir: Path | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_SPOOL_DIR: where producers keep lines the broker has not acknowledged "
            "(append-only segments, drained in order when the broker returns). Default: "
            "<state_dir>/spool."
        ),
    )
    spool_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=64 * 1024,
        description=(
            "SPENDSTREAM_SPOOL_MAX_BYTES: disk the spool may use. When full, `watch` and `publish` "
            "stop reading (their files still hold the lines); `run` keeps spooling past the bound "
            "with a warning, because a wrapped command's output cannot be read again."
        ),
    )
    spool_segment_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=4096,
        description="SPENDSTREAM_SPOOL_SEGMENT_BYTES: size at which a spool segment file is closed.",
    )
    serve_token: SecretStr | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_SERVE_TOKEN: the token `spendstream serve` requires on its API "
            "(Authorization: Bearer); required when it binds another address than loopback "
            "(never printed)."
        ),
    )
    worker_url: str | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_WORKER_URL: base URL where `hook` reads a scope's live totals (GET "
            "/totals/<scope>): a worker's web server (default http://127.0.0.1:<web_port>), or, with "
            "several workers, a `spendstream serve`, which follows the whole totals topic and so "
            "knows every scope (a worker knows only the scopes of its partitions)."
        ),
    )
    auth_mode: Literal["api_key", "subscription"] | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_AUTH_MODE: how the usage this runner publishes is billed, api_key or "
            "subscription (a subscription's cost is notional: a dollar limit is advisory). It "
            "outranks what the CLI reports and the runner's environment (producers/auth.py)."
        ),
    )
    producer_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "SPENDSTREAM_PRODUCER_TIMEOUT_SECONDS: how long a producer waits for the broker (to "
            "connect, or to acknowledge a batch) before it spools instead."
        ),
    )
    producer_retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "SPENDSTREAM_PRODUCER_RETRY_MAX_SECONDS: longest pause between reconnection attempts "
            "while spooling (the pause doubles from 0.5 s up to this)."
        ),
    )
    max_record_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description=(
            "SPENDSTREAM_MAX_RECORD_BYTES: largest record value a producer sends; keep it below the "
            "broker's message.max.bytes (Kafka's default is 1 MiB). A line still larger after "
            "redaction is kept in <spool_dir>/held and replaced by a small marker record."
        ),
    )
    watch_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="SPENDSTREAM_WATCH_POLL_SECONDS: how often `watch` looks for new lines.",
    )
    pack_max_lines: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description=(
            "SPENDSTREAM_PACK_MAX_LINES: most consecutive lines of one file that `publish` and "
            "`watch` send as one packed record (the worker's cost is per record); 1 sends one "
            "line per record. `run` always sends one line per record."
        ),
    )
    pack_max_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description=(
            "SPENDSTREAM_PACK_MAX_BYTES: largest value of a packed record (never more than "
            "max_record_bytes); a line larger than this travels alone."
        ),
    )

    runner_secret: SecretStr | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_RUNNER_SECRET: the fleet secret (the operator's and the worker's only). Set "
            "on the worker, every raw record must carry a valid runner signature (ss-sig) for the "
            "runner it names, or it is dead-lettered; `spendstream runner-key RUNNER_ID` derives a "
            "runner's key from it. Unset: runner ids are trusted (SECURITY.md). Never printed."
        ),
    )
    runner_key: SecretStr | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_RUNNER_KEY: this runner's signing key (64 hex characters, from `spendstream "
            "runner-key`), valid only for its SPENDSTREAM_RUNNER_ID; producers sign every raw record "
            "with it. Never printed."
        ),
    )
    worker_token: SecretStr | None = Field(
        default=None,
        description=(
            "SPENDSTREAM_WORKER_TOKEN: the bearer token the worker's HTTP views require "
            "(Authorization: Bearer), required when SPENDSTREAM_WEB_BIND is not loopback; clients "
            "(`hook`) send it to SPENDSTREAM_WORKER_URL (a serve there: its token). Never printed."
        ),
    )

    @property
    def bootstrap_servers(self) -> str:
        """Where clients connect: the configured cluster, or the local broker."""
        if self.broker:
            return self.broker
        return f"127.0.0.1:{self.local_broker_port}"

    @property
    def spool_path(self) -> Path:
        """Folder of the producers' spool (``spool_dir``, else ``<state_dir>/spool``)."""
        return self.spool_dir if self.spool_dir is not None else self.state_dir / "spool"

    @property
    def worker_base_url(self) -> str:
        """Where a worker's web server answers (``worker_url``, else this host's ``web_port``)."""
        return self.worker_url or f"http://127.0.0.1:{self.web_port}"

    @property
    def uses_local_broker(self) -> bool:
        return not self.broker

    def topic(self, name: str) -> str:
        """Full name of one of spendstream's topics (``raw``, ``usage``, ``deadletter`` ...)."""
        return f"{self.topic_prefix}.{name}"
