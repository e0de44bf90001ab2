"""Reconcile the lake with the totals topic: per root scope, the same cost, tokens and events.

The totals topic (compacted, key = scope id) holds upserts whose ``version`` only grows;
the record with the highest version per key is the scope's current state. A *root* scope
is one without a parent (``parent_id`` null: its lineage is empty), and its ``subtree``
totals cover every usage event of its tree. The lake's ``usage`` view, grouped by
``root_id``, must give exactly the same sums: both are built from the same usage events, the
rollup counting each event id once and the sink writing each once.

Both sides move while the worker runs (the sink writes every ``SPENDSTREAM_SINK_FLUSH_SECONDS``,
the rollup commits every ``SPENDSTREAM_COMMIT_INTERVAL_SECONDS``), so a difference seen while
events are in flight can be a moment's lag; reconcile when the pipeline is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from config.access import explain
from config.kafka import TOTALS, client_options
from config.settings import Settings
from schemas.rollup import ScopeTotals, Totals
from schemas.usage import TOKEN_FIELDS, TokenCounts
from sinks.catalog import query

FIELDS: tuple[str, ...] = ("cost_usd", *TOKEN_FIELDS, "events")
"""What is compared per root: exact cost, every token type, and the number of usage events."""

Figure = int | Decimal


class ReconcileError(RuntimeError):
    """Reconciliation could not run (no broker, no totals topic, topic not readable in time)."""


@dataclass(frozen=True)
class Difference:
    """One figure of one root scope that the two sides disagree on (None: the root is absent)."""

    root_id: str
    field: str
    totals: Figure | None
    lake: Figure | None

    def as_dict(self) -> dict[str, Any]:
        return {"root_id": self.root_id, "field": self.field, "totals": self.totals, "lake": self.lake}


@dataclass(frozen=True)
class Reconciliation:
    roots: int
    """Root scopes compared: those in the totals topic or in the lake."""
    differences: list[Difference] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Totals records that could not be decoded, by position (they make the check fail)."""

    @property
    def agrees(self) -> bool:
        return not self.differences and not self.unreadable

    def as_dict(self) -> dict[str, Any]:
        return {
            "agrees": self.agrees,
            "roots": self.roots,
            "differences": [d.as_dict() for d in self.differences],
            "unreadable": self.unreadable,
        }


@dataclass(frozen=True)
class TotalsRecord:
    """A totals topic record as read: position, key and value."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def latest_per_scope(records: Iterable[TotalsRecord]) -> tuple[dict[str, ScopeTotals], list[str]]:
    """Per key, the record with the highest version (a repeat or a stale update changes nothing),
    and the positions of records that are not valid totals records."""
    latest: dict[str, ScopeTotals] = {}
    unreadable: list[str] = []
    for record in records:
        where = f"p{record.partition}@{record.offset}"
        if record.key is None or record.value is None:
            unreadable.append(f"{where}: no key or no value")
            continue
        try:
            scope = record.key.decode("utf-8")
            totals = ScopeTotals.from_json_dict(orjson.loads(record.value))
        except (UnicodeDecodeError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            unreadable.append(f"{where}: not a totals record ({type(exc).__name__})")
            continue
        current = latest.get(scope)
        if current is None or totals.version > current.version:
            latest[scope] = totals
    return latest, unreadable


def root_subtrees(latest: Mapping[str, ScopeTotals]) -> dict[str, Totals]:
    """Subtree totals of the root scopes (no parent), by root id."""
    return {record.root_id: record.subtree for record in latest.values() if record.parent_id is None}


def figures(totals: Totals) -> dict[str, Figure]:
    return {"cost_usd": totals.cost_usd, **totals.tokens.as_dict(), "events": totals.events}


def compare(topic: Mapping[str, Totals], lake: Mapping[str, Totals]) -> list[Difference]:
    """Every figure on which the two sides differ, by root id then ``FIELDS`` order."""
    differences = []
    for root in sorted(topic.keys() | lake.keys()):
        ours, theirs = topic.get(root), lake.get(root)
        left = figures(ours) if ours is not None else None
        right = figures(theirs) if theirs is not None else None
        for name in FIELDS:
            a = None if left is None else left[name]
            b = None if right is None else right[name]
            if a != b:
                differences.append(Difference(root, name, a, b))
    return differences


def lake_root_totals(data_dir: Path) -> dict[str, Totals]:
    """Per root id, the sums of the lake's usage rows."""
    sums = ", ".join(f"sum({name})" for name in TOKEN_FIELDS)
    _, rows = query(
        data_dir,
        f"SELECT root_id, count(*), sum(cost_usd), {sums} FROM usage GROUP BY root_id",  # noqa: S608
    )
    result = {}
    for root_id, events, cost, *tokens in rows:
        counts = TokenCounts(**{name: int(value) for name, value in zip(TOKEN_FIELDS, tokens, strict=True)})
        result[str(root_id)] = Totals(counts, Decimal(cost), int(events))
    return result


async def read_totals(settings: Settings, *, wait_seconds: float = 30.0) -> list[TotalsRecord]:
    """Every record of the totals topic up to its current end (raises ReconcileError)."""
    try:
        return await asyncio.wait_for(_read_totals(settings), wait_seconds)
    except TimeoutError as exc:
        raise ReconcileError(
            f"could not read {settings.topic(TOTALS)} from {settings.bootstrap_servers} "
            f"within {wait_seconds:g}s"
        ) from exc
    except (KafkaError, OSError) as exc:
        refused = await explain(exc, settings, action="read", topic=settings.topic(TOTALS))
        if refused is not None:
            raise ReconcileError(str(refused)) from exc
        raise _unreadable(settings, exc) from exc


def _unreadable(settings: Settings, exc: BaseException) -> ReconcileError:
    if isinstance(exc, KafkaConnectionError | OSError):
        return ReconcileError(f"cannot reach the Kafka broker at {settings.bootstrap_servers}: {exc}")
    return ReconcileError(f"reading {settings.topic(TOTALS)} failed: {exc!r}")


async def _read_totals(settings: Settings) -> list[TotalsRecord]:
    topic = settings.topic(TOTALS)
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    try:
        await consumer.start()
        if topic not in await consumer.topics():
            # A listing leaves out topics this user may not see; asking for the one topic
            # tells "not allowed" (raised, then named by config.access) from "missing".
            await consumer._client.add_topic(topic)
            if topic in consumer._client.cluster.unauthorized_topics:
                raise TopicAuthorizationFailedError(topic)
            raise ReconcileError(f"topic {topic} does not exist on {settings.bootstrap_servers}")
        # Without a group, a subscription is assigned every partition once metadata arrives.
        consumer.subscribe([topic])
        while not (assigned := consumer.assignment()):  # noqa: ASYNC110 - aiokafka has no event for it
            await asyncio.sleep(0.05)
        tps = sorted(assigned)
        ends = await consumer.end_offsets(tps)
        records: list[TotalsRecord] = []
        pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, messages in batch.items():
                records.extend(
                    TotalsRecord(m.partition, m.offset, m.key, m.value)
                    for m in messages
                    if m.offset < ends[tp]
                )
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return records
    finally:
        await consumer.stop()


async def reconcile(settings: Settings, *, wait_seconds: float = 30.0) -> Reconciliation:
    """Compare the totals topic's root scopes with the lake under ``settings.data_dir``."""
    latest, unreadable = latest_per_scope(await read_totals(settings, wait_seconds=wait_seconds))
    topic = root_subtrees(latest)
    lake = await asyncio.to_thread(lake_root_totals, settings.data_dir)
    return Reconciliation(
        roots=len(topic.keys() | lake.keys()), differences=compare(topic, lake), unreadable=unreadable
    )
