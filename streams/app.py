"""The Faust application: raw lines -> observations -> usage deltas -> totals and windows.

Three stages, each an agent that only loads state, calls a pure function and sends:

1. ``normalize`` consumes ``raw`` (key: stream id). Per stream it keeps the high-water
   position (transport dedup) and the parser's state. Output: observations keyed by
   their ledger key (streams/accounting.py::ledger_key), or a dead letter.
2. ``ledger`` consumes ``observations``; identity and group states live in a table keyed
   like its input, so every report of one usage meets one state. Output: usage deltas on
   ``usage``, keyed by root scope.
3. ``rollup`` consumes ``usage`` (key: root scope), so an agent tree's totals, windows and
   event-time watermark live in one partition. Output: ``totals`` and ``windows`` upserts.

With ``processing_guarantee="exactly_once"`` Faust commits each stage's table changelogs,
outputs and input offsets in one Kafka transaction per partition, so a killed worker
neither loses nor repeats a delta (tests/integration/test_exactly_once.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import faust
import orjson

from schemas import envelope
from schemas.pricing import default_price_table
from schemas.rollup import ScopeTotals, WindowTotals
from schemas.sources import BadLine
from schemas.usage import SchemaError, UsageEvent
from spendstream.kafka import DEADLETTER, OBSERVATIONS, RAW, TOTALS, USAGE, WINDOWS
from spendstream.settings import Settings
from streams import faust_eos
from streams.accounting import RollupView, Stored, WindowConfig, ledger_key, ledger_step, rollup_step
from streams.deadletter import dead_letter_headers
from streams.metrics import Metrics
from streams.normalize import StreamState, normalize_record
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
        "broker_commit_interval": settings.commit_interval_seconds,
        "autodiscover": False,
    }
    conf.update(overrides)
    return conf


def _table(app: faust.App, name: str, settings: Settings) -> Any:
    return app.Table(name, default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions)


def build_app(settings: Settings, **overrides: Any) -> faust.App:
    faust_eos.install()
    app = faust.App(f"{settings.topic_prefix}-worker", **faust_settings(settings, **overrides))
    metrics = Metrics()
    app.spendstream_metrics = metrics  # type: ignore[attr-defined]
    windows = WindowConfig(settings.window_sizes_seconds, settings.window_grace_seconds)
    prices = default_price_table()

    def topic(name: str) -> Any:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes)

    raw_topic, observations_topic = topic(RAW), topic(OBSERVATIONS)
    usage_topic, dead_topic = topic(USAGE), topic(DEADLETTER)
    totals_topic, windows_topic = topic(TOTALS), topic(WINDOWS)
    streams_table = _table(app, "streams", settings)
    ledger_table = _table(app, "ledger", settings)
    totals_table = _table(app, "totals", settings)
    windows_table = _table(app, "windows", settings)

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
                await observations_topic.send(key=ledger_key(observation).encode(), value=value)
            yield None

    def ledger_get(key: str) -> bytes | None:
        value: bytes | None = ledger_table.get(key.encode())
        return value

    @app.agent(observations_topic, name="ledger")
    async def ledger_agent(stream: faust.StreamT) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            try:
                observation, context = envelope.decode(message.value)
                writes = ledger_step(observation, context, ledger_get, prices, settings.cost_mode)
            except (SchemaError, BadLine) as exc:
                metrics.count("dead")
                headers = dead_letter_headers(message, f"observation: {exc}")
                await dead_topic.send(key=message.key, value=message.value or b"", headers=headers)
                yield None
                continue
            for key, value in writes.states.items():
                ledger_table[key.encode()] = value
            if writes.event is not None:
                metrics.count_event(writes.event)
                await usage_topic.send(key=writes.event.root_id.encode(), value=writes.event.to_json())
            yield None

    def totals_get(scope: str) -> Stored[ScopeTotals] | None:
        data = totals_table.get(scope.encode())
        if data is None:
            return None
        raw = orjson.loads(data)
        return Stored(ScopeTotals.from_json_dict(raw["r"]), tuple(raw["ids"]))

    def windows_get(key: str) -> Stored[WindowTotals] | None:
        data = windows_table.get(key.encode())
        if data is None:
            return None
        raw = orjson.loads(data)
        return Stored(WindowTotals.from_json_dict(raw["r"]), tuple(raw["ids"]))

    @app.agent(usage_topic, name="rollup")
    async def rollup_agent(stream: faust.StreamT) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            try:
                usage = UsageEvent.from_json(message.value)
            except SchemaError as exc:
                metrics.count("dead")
                headers = dead_letter_headers(message, f"usage event: {exc}")
                await dead_topic.send(key=message.key, value=message.value or b"", headers=headers)
                yield None
                continue
            view = RollupView(totals_get, windows_get)
            rollup_step(usage, view, windows)
            for scope, stored in view.totals_writes.items():
                record = stored.record.to_json_dict()
                totals_table[scope.encode()] = orjson.dumps({"r": record, "ids": stored.recent_ids})
                await totals_topic.send(key=scope.encode(), value=orjson.dumps(record))
            for key, stored_window in view.windows_writes.items():
                window = stored_window.record.to_json_dict()
                windows_table[key.encode()] = orjson.dumps({"r": window, "ids": stored_window.recent_ids})
                await windows_topic.send(key=key.encode(), value=orjson.dumps(window))
            yield None

    register_views(app, totals_table, metrics)
    return app
