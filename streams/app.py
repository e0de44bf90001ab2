"""The Faust application: raw lines in, usage events and dead letters out.

Built by :func:`build_app` from the settings object (a fresh app per call, so tests can run
several). Agents only move data; decisions live in pure modules (streams/normalize.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import faust

from spendstream.kafka import DEADLETTER, RAW, USAGE
from spendstream.settings import Settings
from streams.deadletter import dead_letter_headers
from streams.normalize import normalize_record

log = logging.getLogger(__name__)


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
        "producer_linger": 0.005,
        "producer_max_batch_size": 256 * 1024,
        # Short session and heartbeat: a killed worker's partitions move within seconds.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "processing_guarantee": "exactly_once",
        "autodiscover": False,
    }
    conf.update(overrides)
    return conf


def build_app(settings: Settings, **overrides: Any) -> faust.App:
    app = faust.App(f"{settings.topic_prefix}-worker", **faust_settings(settings, **overrides))
    raw_topic = app.topic(settings.topic(RAW), key_type=bytes, value_type=bytes)
    usage_topic = app.topic(settings.topic(USAGE), key_type=bytes, value_type=bytes)
    dead_topic = app.topic(settings.topic(DEADLETTER), key_type=bytes, value_type=bytes)

    @app.agent(raw_topic, name="normalize")
    async def normalize(stream: faust.StreamT) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            outcome = normalize_record(message.value, message.headers)
            for usage in outcome.events:
                await usage_topic.send(key=usage.root_id.encode("utf-8"), value=usage.to_json())
            if outcome.dead is not None:
                await dead_topic.send(
                    key=message.key,
                    value=message.value or b"",
                    headers=dead_letter_headers(message, outcome.dead.reason),
                )
            yield None

    return app
