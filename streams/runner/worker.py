"""The stage runner: the one place that knows Faust. Stages (streams/stages/) stay pure.

For each stage, an agent on its input topic takes batches (``take_events``) and:

1. checks the batch against the offsets handed over before (streams/order.py): a record
   after one Faust skipped stops the worker before anything moves a high-water mark;
2. calls ``stage.handle(records, read)``: pure, it never raises for input (terminal errors
   are dead letters in its effects); if it raises anyway, that is a bug: fail-stop;
3. sends the outputs and waits for Kafka's acknowledgements, retrying Kafka errors
   (transient) with backoff (streams/runner/io.py);
4. writes the state (one changelog record per key per batch), then counts.

``stream.take_events`` acks a batch's inputs even when the handler raised, so a failed
batch must never be committed: every failure after step 1 other than a Kafka error stops
the process (exit 70) and ``spendstream worker``'s supervisor restarts it; the restart
replays from the committed offsets, which every stage absorbs.

Faust internals used here: the consumer's ``_committed_offset`` (where it sought to at
assignment), plus those of streams/runner/io.py, tables.py, faust_fixes.py, recovery.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import faust

from config.kafka import client_options
from config.settings import Settings
from streams.metrics import Metrics
from streams.order import InputOrder
from streams.runner.io import RECOVERY_STALLED_EXIT_CODE, Outbox, fail_stop, table_reader, write_state
from streams.runner.liveness import STALL_SECONDS, watch_progress
from streams.runner.purge import PURGE_INTERVAL_SECONDS, InternalPurge
from streams.runner.recovery import default_stall_seconds, watch_recovery
from streams.runner.tables import ExpiringTable, forget_expired, state_table, sweep_interval
from streams.stages.base import Headers, Record, Stage

log = logging.getLogger(__name__)


def to_record(message: Any) -> Record:
    """A Faust message as a stage sees it (headers as a tuple of (str, bytes))."""
    headers: Headers = tuple(message.headers or ())
    return Record(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        headers,
        message.timestamp,
    )


class Worker:
    """Tables, stages and timers of one Faust app."""

    def __init__(
        self, app: faust.App, settings: Settings, metrics: Metrics, topic_names: dict[str, str]
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.topic_names = topic_names  # logical name -> Kafka topic
        self.tables: dict[str, ExpiringTable] = {}
        self._expiring: list[tuple[str, str]] = []  # (table, its input topic's logical name)
        self._inputs: list[str] = []  # the stages' input topics (logical names)
        self.busy: set[str] = set()  # input topics whose stage is handling a batch right now
        self.order = InputOrder(lambda tp: app.consumer._committed_offset.get(tp))  # type: ignore[attr-defined]
        app.on_partitions_revoked.connect(self._forget_revoked)  # type: ignore[arg-type]  # mode types it narrowly

    async def _forget_revoked(self, sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.order.forget(args[0] if args else kwargs.get("revoked", ()))

    def table(self, name: str, input_topic: str, ttl_seconds: float | None) -> None:
        """A state table whose changelog follows ``input_topic``'s partitions."""
        self.tables[name] = state_table(self.app, name, self.settings.partitions, ttl_seconds)
        if ttl_seconds is not None:
            self._expiring.append((name, input_topic))

    def stage(self, stage: Stage) -> None:
        """Run ``stage`` as an agent on its input topic."""
        topic = self.app.topic(self.topic_names[stage.input_topic], key_type=bytes, value_type=bytes)
        self._inputs.append(stage.input_topic)
        tables = {name: self.tables[name] for name in stage.tables}
        read = table_reader(tables)
        outbox = Outbox(
            self.app.producer, self.settings.partitions, self.topic_names, self.metrics.retried(stage.name)
        )

        async def run(stream: Any) -> AsyncIterator[None]:
            size, within = self.settings.batch_max_records, self.settings.batch_max_seconds
            async for events in stream.take_events(size, within):
                unknown = self.order.unknown_starts(events)
                if unknown:  # read from their log start: learn it first (streams/order.py)
                    self.order.learn_starts(await self.app.consumer.earliest_offsets(*unknown))
                self._check_order(stage.name, events)
                started = time.perf_counter()
                self.busy.add(topic.get_topic_name())  # a slow or retrying batch is no stall
                try:
                    effects = stage.handle([to_record(e.message) for e in events], read)
                    await self.metrics.acked(stage.name, outbox.deliver(effects.outputs))
                    await write_state(tables, self.app.producer, self.settings.partitions, effects.writes)
                except BaseException:  # a bug, or cancelled: never commit this batch
                    fail_stop(
                        "stage %s: a batch failed; stopping so it is replayed", stage.name, exc_info=True
                    )
                finally:
                    self.busy.discard(topic.get_topic_name())
                self.metrics.absorb(stage.name, len(events), effects, time.perf_counter() - started)
                yield None

        self.app.agent(topic, name=stage.name)(run)

    def _check_order(self, stage: str, events: Sequence[Any]) -> None:
        gap = self.order.first_gap(events)
        if gap is not None:
            tp, expected, offset = gap
            fail_stop(
                "stage %s: %s offset %d arrived while %d..%d were never handed over; "
                "stopping so the restart reads them in order",
                *(stage, tp, offset, expected, offset - 1),
            )

    def expire_state(self) -> None:
        """Forget keys past their time to live, every tenth of the shortest TTL (tables.py)."""
        if not self._expiring:
            return
        ttls = [t.expiry.ttl for t in self.tables.values() if t.expiry is not None]

        async def sweep() -> None:
            for name, input_topic in self._expiring:
                owned = self._owner(self.topic_names[input_topic])
                self.metrics.expired[name] += await forget_expired(
                    self.tables[name], self.app.producer, owned
                )

        self.app.timer(sweep_interval(min(ttls)), name="forget_expired_state")(sweep)

    def _owner(self, topic_name: str) -> Any:
        from faust.types import TP

        def owned(partition: int) -> bool:
            return TP(topic_name, partition) in self.app.consumer.assignment()

        return owned

    def purge_internal(self, *topics: str) -> InternalPurge:
        """Delete committed records of the internal ``topics`` (streams/runner/purge.py)."""
        purge = InternalPurge(self.app, self.settings, [self.topic_names[t] for t in topics])
        self.app.timer(PURGE_INTERVAL_SECONDS, name="purge_internal_topics")(purge.run_once)

        async def close(sender: Any, **_: Any) -> None:
            await purge.close()

        self.app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # mode types it narrowly
        return purge

    def watch_recovery(self) -> None:
        """Leave a table recovery that makes no progress (streams/runner/recovery.py): one
        CRITICAL line, then exit 75, which ``spendstream worker``'s supervisor restarts (the
        restart resumes from the committed offsets; ``/metrics`` ``restarts`` counts it)."""
        conf = self.app.conf
        stall = default_stall_seconds(conf.broker_session_timeout, conf.stream_recovery_delay)

        def on_stall(reason: str) -> None:
            fail_stop(
                "table recovery made no progress for %.0fs (%s); exiting so the restart resumes",
                *(stall, reason),
                code=RECOVERY_STALLED_EXIT_CODE,
            )

        async def watch() -> None:
            await watch_recovery(self.app, stall, on_stall)

        self.app.task(watch)

    def watch_inputs(self) -> None:
        """Leave a stage input partition that has records waiting but hands none over
        (streams/runner/liveness.py): one CRITICAL line, then exit 75 for the supervisor."""
        topics = frozenset(self.topic_names[name] for name in self._inputs)

        def on_stall(where: str) -> None:
            fail_stop(
                "input made no progress for %.0fs with records waiting (%s); exiting so the restart resumes",
                *(STALL_SECONDS, where),
                code=RECOVERY_STALLED_EXIT_CODE,
            )

        async def watch() -> None:
            options = client_options(self.settings)
            await watch_progress(
                self.app,
                options,
                topics,
                self.order.next_expected,
                lambda: not self.recovered(),
                on_stall,
                busy=lambda: self.busy,
            )

        self.app.task(watch)

    def recovered(self) -> bool:
        """Whether this worker's tables are recovered (reads before that may be stale): Faust
        sets ``completed`` after the first recovery and never clears it, so a recovery after a
        later rebalance shows as ``in_recovery``."""
        recovery: Any = self.app.tables.recovery  # type: ignore[attr-defined]  # not in Faust's stubs
        return bool(recovery.completed.is_set()) and not recovery.in_recovery
