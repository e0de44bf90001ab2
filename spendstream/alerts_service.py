"""``spendstream budget --rules FILE``: budget rules over live totals, alerts on a topic.

At start the service reads the compacted ``alerts`` topic to its end offsets: the keys
there are the alerts already emitted, so a restart emits none twice. Then one consumer (no
group) reads ``totals`` and ``usage`` once from the beginning and follows them; it never
re-reads a topic. Scope rules look at each scope's newest ``totals`` record (subtree
totals; a version not above the last seen is stale). Label rules sum the ``usage`` events
by the label's value, each ``event_id`` once (schemas/budget_rules.py ``LabelSpend``). A
reached threshold is produced to ``alerts`` (acks from all replicas) before it counts as
emitted, then handed to the webhook, which never blocks this loop (spendstream/webhook.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from config.kafka import ALERTS, TOTALS, USAGE, client_options, ensure_topics
from config.settings import Settings
from schemas.alerts import Alert, new_alerts
from schemas.budget_rules import LabelSpend, Rule, label_keys, scope_rules
from schemas.rollup import ScopeTotals
from schemas.usage import SchemaError, UsageEvent
from spendstream.webhook import WebhookSender

log = logging.getLogger(__name__)


async def emitted_alerts(settings: Settings) -> set[str]:
    """Keys on the alerts topic up to its end offsets at this moment."""
    consumer = AIOKafkaConsumer(
        settings.topic(ALERTS),
        **client_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    keys: set[str] = set()
    try:
        ends = await consumer.end_offsets(await _assignment(consumer))
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                keys.update(m.key.decode("utf-8") for m in messages if m.key is not None)
    finally:
        await consumer.stop()
    return keys


async def _assignment(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """The partitions a group-less consumer takes once it has the topic's metadata."""
    for _ in range(300):
        assigned = list(consumer.assignment())
        if assigned:
            return assigned
        await asyncio.sleep(0.1)
    raise RuntimeError("no partitions assigned after 30 s")


class RulesService:
    def __init__(self, settings: Settings, rules: tuple[Rule, ...], webhook: WebhookSender | None) -> None:
        self.settings = settings
        self.scope_rules = scope_rules(rules)
        self.label_rules = tuple(r for r in rules if r.kind == "label")
        self.labels = LabelSpend.of(label_keys(rules))
        self.latest: dict[str, int] = {}  # scope -> highest totals version seen
        self.emitted: set[str] = set()
        self.webhook = webhook
        self.stopping = asyncio.Event()

    async def run(self, follow_seconds: float | None) -> int:
        """Follow until ``follow_seconds`` pass or :meth:`stop`; the number of alerts emitted."""
        await ensure_topics(self.settings, (ALERTS,))
        self.emitted = await emitted_alerts(self.settings)
        topics = [self.settings.topic(TOTALS)] + ([self.settings.topic(USAGE)] if self.label_rules else [])
        consumer = AIOKafkaConsumer(
            *topics,
            **client_options(self.settings),
            group_id=None,
            client_id=f"spendstream-rules-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        producer = AIOKafkaProducer(**client_options(self.settings), acks="all")
        await producer.start()
        await consumer.start()
        if self.webhook is not None:
            self.webhook.start()
        count = 0
        try:
            loop = asyncio.get_running_loop()
            deadline = None if follow_seconds is None else loop.time() + follow_seconds
            while not self.stopping.is_set() and (deadline is None or loop.time() < deadline):
                batch = await consumer.getmany(timeout_ms=200)
                for tp, messages in batch.items():
                    for message in messages:
                        if message.value is None:
                            continue
                        alerts = self._alerts(tp.topic, message.value)
                        count += await self._emit(producer, alerts)
        finally:
            await consumer.stop()
            await producer.stop()
            if self.webhook is not None:
                await self.webhook.close()
        return count

    def stop(self) -> None:
        self.stopping.set()

    def _alerts(self, topic: str, value: bytes) -> list[Alert]:
        now = datetime.now(UTC)
        try:
            if topic == self.settings.topic(TOTALS):
                return self._scope_alerts(ScopeTotals.from_json_dict(orjson.loads(value)), now)
            return self._label_alerts(UsageEvent.from_json(value), now)
        except (orjson.JSONDecodeError, SchemaError, KeyError, TypeError, ValueError) as exc:
            # The worker wrote it; a record we cannot read is skipped, not fatal.
            log.warning("skipped an unreadable %s record: %s", topic, exc)
            return []

    def _scope_alerts(self, record: ScopeTotals, now: datetime) -> list[Alert]:
        if record.version <= self.latest.get(record.scope, 0):
            return []
        self.latest[record.scope] = record.version
        return [
            a
            for rule in self.scope_rules
            for a in new_alerts(rule, record.scope, record.subtree, self.emitted, now)
        ]

    def _label_alerts(self, event: UsageEvent, now: datetime) -> list[Alert]:
        alerts = []
        for key, value in self.labels.add(event):
            spent = self.labels.totals[(key, value)]
            for rule in self.label_rules:
                if rule.label == key:
                    alerts.extend(new_alerts(rule, value, spent, self.emitted, now))
        return alerts

    async def _emit(self, producer: AIOKafkaProducer, alerts: Iterable[Alert]) -> int:
        count = 0
        for alert in alerts:
            record = alert.to_json_dict()
            await self._produce(producer, alert.key, orjson.dumps(record))
            self.emitted.add(alert.key)
            count += 1
            print(f"ALERT {alert.key}: spent ${record['spent']['cost_usd']}", flush=True)
            if self.webhook is not None:
                self.webhook.send(record)
        return count

    async def _produce(self, producer: AIOKafkaProducer, key: str, value: bytes) -> None:
        """Send one alert until Kafka acknowledges it: a broker hiccup is transient, never a drop."""
        delay = 0.5
        while True:
            try:
                await producer.send_and_wait(self.settings.topic(ALERTS), value, key=key.encode("utf-8"))
                return
            except KafkaError as exc:
                log.warning("alert %s not acknowledged (%r); again in %.1fs", key, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
