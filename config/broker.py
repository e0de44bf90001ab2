"""The local single-node Apache Kafka broker (KRaft combined mode) on 127.0.0.1.

Jars come from Maven Central through ``kafka-pom.xml`` (resolved with ``mvn`` into the
state folder once; later starts reuse them). The broker runs in the background and is
remembered by a pid file, so ``start`` is a no-op when it already runs and ``stop`` stops
only a broker that this folder started.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from config import broker_secure
from config.broker_secure import Credentials
from config.settings import Settings
from config.tls import TlsError, TlsFiles, ensure_certificates

KAFKA_VERSION = "3.9.1"
_READY_TIMEOUT_S = 90.0
_STOP_TIMEOUT_S = 30.0
# The broker outlives the Popen that launched it by design; holding the handle keeps it from
# being collected (with a "still running" ResourceWarning) while this process runs.
_LAUNCHED: list[subprocess.Popen[bytes]] = []


class BrokerError(RuntimeError):
    """The local broker could not be provisioned, started or stopped; the message says why."""


@dataclass(frozen=True)
class BrokerPaths:
    root: Path  # the jars, shared by the plaintext and the secured broker
    home: Path  # this broker's data, config, logs and pid (secured: its TLS files and users too)
    secure: bool = False

    @property
    def libs(self) -> Path:
        return self.root / "libs"

    @property
    def libs_marker(self) -> Path:
        return self.libs / f".complete-{KAFKA_VERSION}"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.home / "log4j.properties"

    @property
    def log(self) -> Path:
        return self.home / "broker.log"

    @property
    def pid(self) -> Path:
        return self.home / "broker.pid"

    @property
    def tls(self) -> TlsFiles:
        return TlsFiles(self.home / "tls")

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.home / "credentials")


def paths_for(settings: Settings) -> BrokerPaths:
    root = settings.state_dir.resolve() / "kafka"
    if settings.local_broker_secure:
        return BrokerPaths(root, root / "secure", secure=True)
    return BrokerPaths(root, root)


def _require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BrokerError(f"`{name}` was not found on PATH: {hint}")
    return found


def ensure_jars(settings: Settings) -> Path:
    """Resolve the Kafka broker's runtime classpath into the state folder (once)."""
    paths = paths_for(settings)
    if paths.libs_marker.exists():
        return paths.libs
    _require_tool("java", "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`).")
    mvn = _require_tool("mvn", "install Apache Maven (e.g. `apt-get install maven`) to fetch the Kafka jars.")
    paths.libs.mkdir(parents=True, exist_ok=True)
    pom = resources.files("config").joinpath("kafka-pom.xml")
    with resources.as_file(pom) as pom_path:
        cmd = [
            mvn, "-q", "-B", "-f", str(pom_path),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={paths.libs}",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-2000:]
        raise BrokerError(f"mvn could not resolve the Kafka {KAFKA_VERSION} jars:\n{tail}")
    paths.libs_marker.write_text(KAFKA_VERSION)
    return paths.libs


def _listener_properties(settings: Settings, paths: BrokerPaths) -> str:
    if paths.secure:
        return broker_secure.server_properties(settings, paths.data, paths.tls, paths.credentials)
    port, cport = settings.local_broker_port, settings.local_controller_port
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{cport}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ]
    )


def _server_properties(settings: Settings, paths: BrokerPaths) -> str:
    return "\n".join(
        [
            _listener_properties(settings, paths),
            f"log.dirs={paths.data}",
            f"num.partitions={settings.partitions}",
            # A single node: every internal topic has one replica, and transactions work.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "group.initial.rebalance.delay.ms=0",
            # Topics are created explicitly with the partition count the app expects;
            # an auto-created topic with another count makes Faust fail silently.
            "auto.create.topics.enable=false",
            "log.retention.hours=-1",
            "log.segment.bytes=67108864",
            "",
        ]
    )


_LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
"""


def _format_storage(paths: BrokerPaths, classpath: str) -> None:
    if (paths.data / "meta.properties").exists():
        return
    paths.data.mkdir(parents=True, exist_ok=True)
    cmd = [
        "java", "-cp", classpath, f"-Dlog4j.configuration=file:{paths.log4j}",
        "kafka.tools.StorageTool", "format", "-t", uuid.uuid4().hex[:22],
        "-c", str(paths.config), "--ignore-formatted",
    ]  # fmt: skip
    if paths.secure:
        cmd += broker_secure.scram_arguments(paths.credentials)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:  # the tool's output names no password: it never echoes --add-scram
        raise BrokerError(f"formatting the KRaft data dir failed:\n{result.stdout}{result.stderr}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _running_pid(paths: BrokerPaths) -> int | None:
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A recycled pid is not our broker: check its command line when /proc allows.
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"kafka.Kafka" not in cmdline.read_bytes():
        return None
    return pid


@dataclass(frozen=True)
class BrokerStatus:
    managed: bool
    running: bool
    pid: int | None
    bootstrap: str
    secure: BrokerPaths | None = None  # the secured broker's files, to say how clients connect

    def describe(self) -> str:
        if not self.managed:
            return f"using the external cluster at {self.bootstrap} (SPENDSTREAM_BROKER); nothing local"
        kind = "secured local Kafka" if self.secure else "local Kafka"
        if not self.running:
            return f"{kind} is not running (would listen at {self.bootstrap})"
        head = f"{kind} {KAFKA_VERSION} running, pid {self.pid}, at {self.bootstrap}"
        if self.secure is None:
            return head
        return "\n".join(
            [
                f"{head} (SASL_SSL only: TLS + SASL/SCRAM-SHA-512, ACLs per role)",
                f"CA certificate (SPENDSTREAM_SSL_CAFILE): {self.secure.tls.ca_cert}",
                broker_secure.describe_users(self.secure.credentials),
                "connect a client as a user: set -a; . <its credentials file>; set +a",
            ]
        )


def status(settings: Settings) -> BrokerStatus:
    if not settings.uses_local_broker:
        return BrokerStatus(False, True, None, settings.bootstrap_servers)
    paths = paths_for(settings)
    pid = _running_pid(paths)
    running = pid is not None and _port_open(settings.local_broker_port)
    return BrokerStatus(True, running, pid, settings.bootstrap_servers, paths if paths.secure else None)


def start(settings: Settings) -> BrokerStatus:
    """Start the local broker unless it (or an external cluster) is already there."""
    current = status(settings)
    if not current.managed or current.running:
        return current
    paths = paths_for(settings)
    pid = _running_pid(paths)
    if pid is None and _port_open(settings.local_broker_port):
        raise BrokerError(
            f"port {settings.local_broker_port} on 127.0.0.1 is taken by a process spendstream did not "
            "start; set SPENDSTREAM_BROKER to use it, or SPENDSTREAM_LOCAL_BROKER_PORT to pick another port"
        )
    proc = _launch(settings, paths) if pid is None else None
    _wait_ready(settings, paths, proc)
    if proc is not None:
        client = (
            broker_secure.admin_settings(settings, paths.tls, paths.credentials) if paths.secure else settings
        )
        _warm_up(client)
        if paths.secure:
            _prepare_roles(client)
    return status(settings)


def _prepare_roles(admin: Settings) -> None:
    """Make the secured broker ready for the default prefix: its topics, and every role's ACLs."""
    from config.acl import acl_matrix
    from config.acl_admin import apply_acls
    from config.kafka import ensure_topics

    async def prepare() -> None:
        await ensure_topics(admin)
        await apply_acls(admin, acl_matrix(admin.topic_prefix))

    try:
        _run_blocking(lambda: asyncio.wait_for(prepare(), timeout=_READY_TIMEOUT_S))
    except Exception as exc:
        raise BrokerError(
            f"the secured broker started but its topics or ACLs could not be set: {exc}"
        ) from exc


def _warm_up(settings: Settings) -> None:
    """Create the group and transaction coordinators' internal topics before anyone needs them.

    A fresh KRaft node creates ``__consumer_offsets`` and ``__transaction_state`` on first use;
    a Faust worker that joins meanwhile sees the coordinator "dead" over and over and can
    be assigned nothing from stale metadata (reproduced: the first worker after a cold start
    never consumed). One group join and one transactional producer settle both.
    """
    try:
        _run_blocking(lambda: asyncio.wait_for(_warm_up_clients(settings), timeout=_READY_TIMEOUT_S))
    except Exception as exc:
        raise BrokerError(f"the local broker started but its coordinators did not come up: {exc}") from exc


async def _warm_up_clients(settings: Settings) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from config.kafka import client_options

    producer = AIOKafkaProducer(**client_options(settings), transactional_id="spendstream-warm-up")
    await producer.start()
    await producer.stop()
    consumer = AIOKafkaConsumer(**client_options(settings), group_id="spendstream-warm-up")
    await consumer.start()
    try:
        consumer.subscribe(pattern="^spendstream-warm-up$")
        await consumer.getmany(timeout_ms=500)
    finally:
        await consumer.stop()


def _run_blocking(make: Callable[[], Awaitable[None]]) -> None:
    """Run the coroutine ``make()`` to completion and return when it is done, from any caller.

    ``start`` is a blocking call. Outside an event loop the coroutine runs on a new loop here;
    inside one (``broker.start`` called from async code) ``asyncio.run`` is not allowed, so it
    runs on a new loop in a worker thread while this thread waits. The caller's loop is
    blocked meanwhile, as by the rest of ``start``; async callers that need their loop to
    keep running use ``await asyncio.to_thread(broker.start, settings)``.
    """

    async def main() -> None:
        await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(main())
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spendstream-broker-warm-up") as pool:
        pool.submit(lambda: asyncio.run(main())).result()


def _launch(settings: Settings, paths: BrokerPaths) -> subprocess.Popen[bytes]:
    libs = ensure_jars(settings)
    classpath = f"{libs}/*"
    paths.home.mkdir(parents=True, exist_ok=True)
    if paths.secure:
        tls = _tls(paths)
        broker_secure.ensure_credentials(paths.credentials, settings.bootstrap_servers, tls.ca_cert)
    # The secured broker's properties hold the admin password: the file is born private.
    fd = os.open(paths.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(_server_properties(settings, paths))
    paths.log4j.write_text(_LOG4J.format(log=paths.root / "server.log"))
    _format_storage(paths, classpath)
    cmd = [
        "java", f"-Xmx{settings.local_broker_heap}", "-Xms256m", "-XX:+UseG1GC",
        "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{paths.log4j}",
        "-cp", classpath, "kafka.Kafka", str(paths.config),
    ]  # fmt: skip
    with paths.log.open("ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    paths.pid.write_text(str(proc.pid))
    _LAUNCHED.append(proc)
    return proc


def _tls(paths: BrokerPaths) -> TlsFiles:
    try:
        return ensure_certificates(paths.tls.folder)
    except TlsError as exc:
        raise BrokerError(str(exc)) from exc


def _wait_ready(settings: Settings, paths: BrokerPaths, proc: subprocess.Popen[bytes] | None) -> None:
    """Wait for the client port; ``proc`` is the broker just launched, None when it ran already."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        exited = proc.poll() is not None if proc is not None else _running_pid(paths) is None
        if exited:
            paths.pid.unlink(missing_ok=True)
            tail = paths.log.read_text(errors="replace")[-3000:] if paths.log.exists() else ""
            raise BrokerError(f"the local broker exited during start-up:\n{tail}")
        if _port_open(settings.local_broker_port):
            return
        time.sleep(0.25)
    raise BrokerError(
        f"the local broker did not accept connections within {_READY_TIMEOUT_S:.0f}s; see {paths.log}"
    )


def stop(settings: Settings) -> bool:
    """Stop the broker this state folder started. Returns False when none was running."""
    if not settings.uses_local_broker:
        return False
    paths = paths_for(settings)
    pid = _running_pid(paths)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while time.monotonic() < deadline and _running_pid(paths) is not None:
        time.sleep(0.2)
    if _running_pid(paths) is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    paths.pid.unlink(missing_ok=True)
    return True
