"""The Faust application: raw lines -> observations -> usage deltas -> totals and windows.

Three stages, each an agent that only loads state, calls a pure function and sends:

1. ``normalize`` consumes ``raw`` (key: stream id). Per stream it keeps the high-water
   position (transport dedup) and the parser's state. Output: observations keyed by
   their ledger key (schemas/accounting.py::ledger_key), or a dead letter.
2. ``ledger`` consumes ``observations``; identity and group states live in a table keyed
   like its input, so every report of one usage meets one state. Output: usage deltas on
   ``usage`` (one record each, keyed by root scope: the public topic, the lake's input),
   and the same deltas packed per root-scope partition on the internal ``deltas`` topic.
3. ``rollup`` consumes ``deltas`` (partitioned by root scope), so an agent tree's totals,
   windows and event-time watermark live in one partition. Output: ``totals`` and
   ``windows`` upserts.

Each stage works in batches (streams/batching.py): outputs are acknowledged before the
state they came from is written, outputs are deterministic, and every consumer drops
repeats, so Faust's at-least-once replays after a crash or a rebalance neither lose nor
repeat a delta (tests/integration/test_exactly_once.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import faust
import orjson
from faust.types import TP

from config.kafka import DEADLETTER, DELTAS, OBSERVATIONS, RAW, TOTALS, USAGE, WINDOWS
from config.settings import Settings
from schemas import envelope
from schemas.accounting import (
    H_ORIGIN,
    RollupView,
    Stored,
    WindowConfig,
    delta_line,
    ledger_key,
    ledger_step,
    origin_header,
    parse_delta,
    rollup_step,
)
from schemas.deadletter import H_LINE
from schemas.normalize import Outcome, StreamState, normalize_lines
from schemas.pricing import cost_disagrees, load_price_table
from schemas.rollup import ScopeTotals, WindowTotals
from schemas.sources import BadLine
from schemas.usage import SchemaError
from streams import faust_fixes
from streams.batching import Outbox, StateBatch, batches
from streams.deadletter import dead_letter, dead_letter_headers
from streams.metrics import Metrics
from streams.order import InputOrder
from streams.routing import Packs, crc32_partitioner
from streams.state import forget_expired, state_table, sweep_interval
from streams.web import register_views

log = logging.getLogger(__name__)

# Decoded rollup values kept between batches (a hot tree's keys are read every batch).
DECODED_CACHE_KEYS = 50_000


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
    conf.update(overrides)
    return conf


def build_app(settings: Settings, **overrides: Any) -> faust.App:
    faust_fixes.install()
    app = faust.App(f"{settings.topic_prefix}-worker", **faust_settings(settings, **overrides))
    metrics = Metrics()
    app.spendstream_metrics = metrics  # type: ignore[attr-defined]
    windows = WindowConfig(settings.window_sizes_seconds, settings.window_grace_seconds)
    prices = load_price_table(settings.prices_file)

    def topic(name: str) -> Any:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes)

    # Outputs go straight to the producer (streams/batching.py), by topic name.
    dead_topic_name, observations_topic_name = settings.topic(DEADLETTER), settings.topic(OBSERVATIONS)
    usage_topic_name, totals_topic_name = settings.topic(USAGE), settings.topic(TOTALS)
    windows_topic_name, deltas_topic_name = settings.topic(WINDOWS), settings.topic(DELTAS)
    raw_topic, observations_topic, deltas_topic = topic(RAW), topic(OBSERVATIONS), topic(DELTAS)
    # Dedup state expires (streams/state.py); totals never do: a scope's totals are its bill.
    partitions, dedup_ttl = settings.partitions, settings.dedup_ttl_seconds
    streams_table = state_table(app, "streams", partitions, settings.stream_ttl_seconds)
    ledger_table = state_table(app, "ledger", partitions, dedup_ttl)
    totals_table = state_table(app, "totals", partitions, None)
    windows_table = state_table(app, "windows", partitions, dedup_ttl)
    tables = {
        "streams": streams_table,
        "ledger": ledger_table,
        "totals": totals_table,
        "windows": windows_table,
    }

    def owner(topic_name: str) -> Any:
        """Whether this worker owns a partition of ``topic_name`` right now."""

        def owned(partition: int) -> bool:
            return TP(topic_name, partition) in app.consumer.assignment()

        return owned

    expiring = (
        (streams_table, "streams", settings.topic(RAW)),
        (ledger_table, "ledger", settings.topic(OBSERVATIONS)),
        (windows_table, "windows", deltas_topic_name),
    )

    @app.timer(sweep_interval(min(settings.dedup_ttl_seconds, settings.stream_ttl_seconds)))
    async def forget_expired_state() -> None:
        for table, name, input_topic in expiring:
            metrics.expired[name] += await forget_expired(table, app.producer, owner(input_topic))

    # Each stage's inputs in offset order (streams/order.py): Faust can skip a record.
    order = InputOrder(lambda tp: app.consumer._committed_offset.get(tp))  # type: ignore[attr-defined]

    async def forget_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        order.forget(args[0] if args else kwargs.get("revoked", ()))

    app.on_partitions_revoked.connect(forget_revoked)  # type: ignore[arg-type]  # mode types the receiver narrowly

    batching: dict[str, Any] = {
        "size": settings.batch_max_records,
        "within": settings.batch_max_seconds,
        "timed": metrics.timed,
        "order": order,
    }

    async def send_dead(outbox: Outbox, message: Any, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        # The source record's timestamp: a replayed dead letter is the same record again.
        await outbox.send(dead_topic_name, message.key or b"", value, headers, message.timestamp)

    async def stage_dead(
        outbox: Outbox,
        message: Any,
        stage: str,
        reason: str,
        value: bytes | None = None,
        index: int | None = None,
    ) -> None:
        """Dead-letter a malformed record of a later stage, or one envelope of a packed record
        (``value``, ``index``), counted apart from raw lines."""
        metrics.stage_dead_letters[stage] += 1
        headers = dead_letter_headers(message, reason)
        if index is not None:
            headers = [(k, v) for k, v in headers if k != envelope.H_COUNT]
            headers.append((H_LINE, str(index).encode()))
        await send_dead(outbox, message, value if value is not None else message.value or b"", headers)

    async def normalize_batch(events: Sequence[Any]) -> None:
        states = StateBatch(streams_table, app.producer, partitions)
        outbox = Outbox(app.producer, partitions)
        packs = Packs(partitions)

        def stream_state(stream_id: str) -> StreamState | None:
            data = states.get(stream_id.encode())
            return StreamState.from_bytes(data) if data is not None else None

        for event in events:
            message = event.message
            metrics.count_record()
            last: Outcome | None = None  # the last line that moved the stream's state
            for outcome in normalize_lines(message.value, message.headers, stream_state):
                metrics.count(outcome.kind)
                if outcome.new_state is not None and outcome.context is not None:
                    last = outcome
                if outcome.kind == "dead":
                    await send_dead(outbox, message, *dead_letter(message, outcome))
                for observation in outcome.observations:
                    assert outcome.context is not None
                    packs.add(ledger_key(observation).encode(), envelope.encode(observation, outcome.context))
            if last is not None and last.new_state is not None and last.context is not None:
                key = last.context.stream_id.encode()
                states.set(key, last.new_state.to_bytes(), message.partition)
        for partition, key, value, headers in packs.records():
            await outbox.send(observations_topic_name, key, value, headers, partition=partition)
        await metrics.acked("normalize", outbox.delivered())
        await states.write()

    @app.agent(raw_topic, name="normalize")
    async def normalize(stream: faust.StreamT) -> AsyncIterator[None]:
        async for _ in batches(stream, normalize_batch, **batching, stage="normalize"):
            yield None

    async def ledger_batch(events: Sequence[Any]) -> None:
        states = StateBatch(ledger_table, app.producer, partitions)
        outbox = Outbox(app.producer, partitions)
        deltas = Packs(partitions)

        def ledger_get(key: str) -> bytes | None:
            return states.get(key.encode())

        for event in events:
            message = event.message
            try:
                envelopes = envelope.unpack(message.value, message.headers)
            except SchemaError as exc:
                await stage_dead(outbox, message, "ledger", f"observations record: {exc}")
                continue
            for index, data in enumerate(envelopes):
                try:
                    observation, context = envelope.decode(data)
                    writes = ledger_step(observation, context, ledger_get, prices, settings.cost_mode)
                except (SchemaError, BadLine) as exc:
                    await stage_dead(outbox, message, "ledger", f"observation: {exc}", data, index)
                    continue
                for key, value in writes.states.items():
                    states.set(key.encode(), value, message.partition)
                if writes.event is not None:
                    metrics.count_event(writes.event)
                    if cost_disagrees(
                        observation.tokens, observation.model, observation.reported_cost_usd, prices
                    ):
                        metrics.cost_disagreements += 1
                    origin = origin_header(message.partition, message.offset, index)
                    root, event_json = writes.event.root_id.encode(), writes.event.to_json()
                    await outbox.send(usage_topic_name, root, event_json, [(H_ORIGIN, origin)])
                    deltas.add(root, delta_line(origin, event_json))
        for partition, pack_key, value, headers in deltas.records():
            await outbox.send(deltas_topic_name, pack_key, value, headers, partition=partition)
        await metrics.acked("ledger", outbox.delivered())
        await states.write()

    @app.agent(observations_topic, name="ledger")
    async def ledger_agent(stream: faust.StreamT) -> AsyncIterator[None]:
        async for _ in batches(stream, ledger_batch, **batching, stage="ledger"):
            yield None

    decoded: dict[bytes, tuple[bytes, Any]] = {}

    def stored(states: StateBatch, key: str, kind: Any) -> Any:
        """The Stored value of ``key``, decoded once per table value (identity-checked)."""
        raw_key = key.encode()
        data = states.get(raw_key)
        if data is None:
            return None
        hit = decoded.get(raw_key)
        if hit is not None and hit[0] is data:
            return hit[1]
        value = Stored.from_bytes(data, kind)
        if len(decoded) >= DECODED_CACHE_KEYS:
            decoded.clear()
        decoded[raw_key] = (data, value)
        return value

    async def rollup_batch(events: Sequence[Any]) -> None:
        totals = StateBatch(totals_table, app.producer, partitions)
        windows_state = StateBatch(windows_table, app.producer, partitions)
        outbox = Outbox(app.producer, partitions)
        view = RollupView(
            lambda scope: stored(totals, scope, ScopeTotals),
            lambda key: stored(windows_state, key, WindowTotals),
        )
        source_of: dict[str, int] = {}
        for event in events:
            message = event.message
            try:
                packed = envelope.unpack(message.value, message.headers)
            except SchemaError as exc:
                await stage_dead(outbox, message, "rollup", f"deltas record: {exc}")
                continue
            for index, data in enumerate(packed):
                try:
                    origin, usage = parse_delta(data)
                except SchemaError as exc:
                    await stage_dead(outbox, message, "rollup", f"usage delta: {exc}", data, index)
                    continue
                metrics.rollup_deltas += 1
                rollup_step(usage, view, windows, origin)
                for key in view.last_touched:
                    source_of.setdefault(key, message.partition)
        writes: list[tuple[StateBatch, str, bytes, Any]] = []
        for topic, states, touched, written, current_of in (
            (totals_topic_name, totals, view.touched_totals, view.totals_writes, view.stored_totals),
            (
                windows_topic_name,
                windows_state,
                view.touched_windows,
                view.windows_writes,
                view.stored_window,
            ),
        ):
            for key in touched:
                current = current_of(key)
                assert current is not None
                record = orjson.dumps(current.record.to_json_dict())
                await outbox.send(topic, key.encode(), record)
                if key in written:
                    writes.append((states, key, current.to_bytes(record), current))
        await metrics.acked("rollup", outbox.delivered())
        for states, key, data, current in writes:
            raw_key = key.encode()
            states.set(raw_key, data, source_of[key])
            stored_copy = states.get(raw_key)  # what the table holds: the cache checks identity
            assert stored_copy is not None
            decoded[raw_key] = (stored_copy, current)
        await totals.write()
        await windows_state.write()

    @app.agent(deltas_topic, name="rollup")
    async def rollup_agent(stream: faust.StreamT) -> AsyncIterator[None]:
        async for _ in batches(stream, rollup_batch, **batching, stage="rollup"):
            yield None

    register_views(app, tables, metrics)
    return app
