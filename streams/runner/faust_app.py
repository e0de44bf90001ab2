"""The Faust app of the worker: its settings, and Faust's fixes installed before it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust

from config.kafka import client_options
from config.settings import Settings
from streams.routing import crc32_partitioner
from streams.runner import faust_fixes, fetch_wait
from streams.runner.web_guard import web_options


def faust_settings(settings: Settings, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap_servers}",
        "store": "memory://",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "topic_allow_declare": True,
        "web_port": settings.web_port,
        "web_bind": settings.web_bind,
        "web_in_thread": False,
        "web_application_options": web_options(settings),
        # Faust's own files (table metadata) live with spendstream's state, not in the
        # current directory (Faust's default ``<app id>-data``).
        "datadir": str(settings.state_dir / f"{settings.topic_prefix}-worker-data"),
        "producer_linger": 0.0,
        "producer_max_batch_size": 256 * 1024,
        # Short session and heartbeat: a killed worker's partitions move within seconds.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "processing_guarantee": "at_least_once",
        "broker_commit_interval": settings.commit_interval_seconds,
        "autodiscover": False,
        "producer_partitioner": crc32_partitioner,
    }
    credentials = broker_credentials(settings)
    if credentials is not None:
        conf["broker_credentials"] = credentials
    conf.update(overrides)
    return conf


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The worker's TLS and SASL settings, as Faust hands them to each of its Kafka clients
    (the same options as ``config.kafka.client_options``: one CA file, one user)."""
    options = client_options(settings)
    protocol = options["security_protocol"]
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        ssl_context=options.get("ssl_context"),  # None: SASL_PLAINTEXT
        mechanism=options["sasl_mechanism"],
    )


def new_app(settings: Settings, **overrides: Any) -> faust.App:
    """A Faust app for the worker, with the commit guard of faust_fixes.py installed and its
    consumer's fetch wait from ``SPENDSTREAM_FETCH_MAX_WAIT_MS`` (fetch_wait.py)."""
    faust_fixes.install()
    conf = faust_settings(settings, **overrides)
    Path(conf["datadir"]).mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = faust.App(f"{settings.topic_prefix}-worker", **conf)
    fetch_wait.use_wait(app, settings.fetch_max_wait_ms)
    return app
