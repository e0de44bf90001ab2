"""The Faust application: raw lines -> observations -> usage deltas, totals and windows.

Two stages, each an agent that only loads state, calls a pure function and sends:

1. ``normalize`` consumes ``raw`` (key: stream id). Per stream it keeps the high-water
   position (transport dedup) and the parser's state. Output: observations keyed by the
   root scope, or a dead letter.
2. ``account`` consumes ``observations`` (key: root scope), so every scope of one agent
   tree is accounted in one partition. Ledger, totals, windows and watermark live in
   tables written from that partition; with ``processing_guarantee="exactly_once"`` Faust
   commits table changelogs, outputs and input offsets in one Kafka transaction per
   partition, so a crash at any point neither loses nor repeats a delta.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import faust
import orjson

from schemas import envelope
from schemas.rollup import ScopeTotals, WindowTotals
from schemas.usage import SchemaError
from spendstream.kafka import DEADLETTER, OBSERVATIONS, RAW, TOTALS, USAGE, WINDOWS
from spendstream.settings import Settings
from streams.accounting import StateView, WindowConfig, account
from streams.deadletter import dead_letter_headers
from streams.metrics import Metrics
from streams.normalize import StreamState, normalize_record, root_of
from streams.web import register_views

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


def _table(app: faust.App, name: str, settings: Settings) -> Any:
    return app.Table(name, default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions)


def build_app(settings: Settings, **overrides: Any) -> faust.App:
    app = faust.App(f"{settings.topic_prefix}-worker", **faust_settings(settings, **overrides))
    metrics = Metrics()
    app.spendstream_metrics = metrics  # type: ignore[attr-defined]
    windows = WindowConfig(settings.window_sizes_seconds, settings.window_grace_seconds)

    def topic(name: str) -> Any:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes)

    raw_topic, observations_topic = topic(RAW), topic(OBSERVATIONS)
    usage_topic, dead_topic = topic(USAGE), topic(DEADLETTER)
    totals_topic, windows_topic = topic(TOTALS), topic(WINDOWS)
    streams_table = _table(app, "streams", settings)
    ledger_table = _table(app, "ledger", settings)
    totals_table = _table(app, "totals", settings)
    windows_table = _table(app, "windows", settings)
    marks_table = _table(app, "marks", settings)

    def stream_state(stream_id: str) -> StreamState | None:
        data = streams_table.get(stream_id.encode())
        return StreamState.from_bytes(data) if data is not None else None

    @app.agent(raw_topic, name="normalize")
    async def normalize(stream: faust.StreamT) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            outcome = normalize_record(message.value, message.headers, stream_state)
            metrics.count(outcome.kind)
            if outcome.new_state is not None and outcome.context is not None:
                streams_table[outcome.context.stream_id.encode()] = outcome.new_state.to_bytes()
            if outcome.kind == "dead":
                headers = dead_letter_headers(message, outcome.reason or "unknown")
                await dead_topic.send(key=message.key, value=message.value or b"", headers=headers)
            for observation in outcome.observations:
                assert outcome.context is not None
                value = envelope.encode(observation, outcome.context)
                await observations_topic.send(key=root_of(observation).encode(), value=value)
            yield None

    def ledger_get(key: str) -> bytes | None:
        value: bytes | None = ledger_table.get(key.encode())
        return value

    def totals_get(scope: str) -> ScopeTotals | None:
        data = totals_table.get(scope.encode())
        return ScopeTotals.from_json_dict(orjson.loads(data)) if data is not None else None

    def windows_get(key: str) -> WindowTotals | None:
        data = windows_table.get(key.encode())
        return WindowTotals.from_json_dict(orjson.loads(data)) if data is not None else None

    @app.agent(observations_topic, name="account")
    async def account_agent(stream: faust.StreamT) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            try:
                observation, context = envelope.decode(message.value)
            except SchemaError as exc:
                metrics.count("dead")
                headers = dead_letter_headers(message, f"observation: {exc}")
                await dead_topic.send(key=message.key, value=message.value or b"", headers=headers)
                yield None
                continue
            mark_key = f"p{message.partition}".encode()
            mark = marks_table.get(mark_key)
            watermark = datetime.fromisoformat(mark.decode()) if mark else None
            view = StateView(ledger_get, totals_get, windows_get)
            result = account(observation, context, view, watermark, windows)
            for key, value in view.ledger_writes.items():
                ledger_table[key.encode()] = value
            for usage in result.events:
                metrics.count_event(usage)
                await usage_topic.send(key=usage.root_id.encode(), value=usage.to_json())
            for scope, record in view.totals_writes.items():
                data = orjson.dumps(record.to_json_dict())
                totals_table[scope.encode()] = data
                await totals_topic.send(key=scope.encode(), value=data)
            for key, window in view.windows_writes.items():
                data = orjson.dumps(window.to_json_dict())
                windows_table[key.encode()] = data
                await windows_topic.send(key=key.encode(), value=data)
            if result.watermark is not None and result.watermark != watermark:
                marks_table[mark_key] = result.watermark.isoformat().encode()
            yield None

    register_views(app, totals_table, metrics)
    return app
