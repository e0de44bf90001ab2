"""``run --max-usd/--max-tokens``: follow the run's own live subtree total, stop its tree.

The run's scope is new, so its record can only appear after the run starts: the guard
assigns every partition of ``totals`` at their END offsets before the command starts and
reads only what comes after (never the whole compacted topic). Records of other scopes
are skipped by key; a record with a version not above the last one seen is stale.

What trips (:func:`judge`, pure): tokens over ``--max-tokens`` in any auth mode; cost over
``--max-usd`` counting only BILLABLE cost (api_key, and unknown: missing evidence never
lifts a limit), or all cost with ``--enforce``. Cost over the limit that is only over
because of subscription usage (notional) is ADVISORY: one warning, nothing stopped.

Stopping: the command runs in its own process group; SIGTERM goes to the group, SIGKILL
after ``--grace`` seconds to whatever of the group is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from config.kafka import TOTALS, client_options
from config.settings import Settings
from schemas.rollup import ScopeTotals

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 5.0
_POLL_MS = 100


@dataclass(frozen=True)
class Limits:
    max_usd: Decimal | None = None
    max_tokens: int | None = None
    enforce_advisory: bool = False  # --enforce: subscription cost counts too

    @property
    def any(self) -> bool:
        return self.max_usd is not None or self.max_tokens is not None


@dataclass(frozen=True)
class Verdict:
    """``stop``: over an enforced limit; ``advisory``: over the dollar limit only notionally."""

    stop: bool
    advisory: bool
    what: str  # "cost" | "tokens"
    limit: str
    spent: str


def judge(record: ScopeTotals, limits: Limits) -> Verdict | None:
    """What a scope's record means for its limits; None while within them."""
    subtree = record.subtree
    if limits.max_tokens is not None and subtree.tokens.total > limits.max_tokens:
        return Verdict(True, False, "tokens", str(limits.max_tokens), str(subtree.tokens.total))
    if limits.max_usd is None or subtree.cost_usd <= limits.max_usd:
        return None
    limit = usd_display(limits.max_usd)
    if limits.enforce_advisory or subtree.billable_cost_usd > limits.max_usd:
        spent = subtree.cost_usd if limits.enforce_advisory else subtree.billable_cost_usd
        return Verdict(True, False, "cost", limit, usd_display(spent))
    return Verdict(False, True, "cost", limit, usd_display(subtree.cost_usd))


def usd_display(amount: Decimal) -> str:
    """``$1.05`` for 1.050000000000: exact (no rounding), without the trailing zeros."""
    text = format(amount.normalize(), "f")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def verdict_line(scope: str, verdict: Verdict) -> str:
    if verdict.stop:
        return (
            f"spendstream run: budget exceeded: scope {scope} {verdict.what} {verdict.spent} > limit "
            f"{verdict.limit}; stopping the command"
        )
    return (
        f"spendstream run: budget advisory: scope {scope} cost {verdict.spent} > limit {verdict.limit}, "
        "but the part over it is subscription usage (notional cost): not stopped (--enforce stops it)"
    )


class TotalsFollower:
    """The ``totals`` records of one scope written after :meth:`start`."""

    def __init__(self, settings: Settings, scope: str) -> None:
        self.topic = settings.topic(TOTALS)
        self.wanted = scope.encode("utf-8")
        self.timeout_s = settings.producer_timeout_seconds
        self.consumer = AIOKafkaConsumer(
            **client_options(settings),
            group_id=None,
            client_id=f"spendstream-guard-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
            isolation_level="read_committed",
            request_timeout_ms=int(self.timeout_s * 1000) + 5000,
        )
        self.latest: ScopeTotals | None = None

    async def start(self) -> None:
        """Connect and take the end offsets; raises (KafkaError, OSError, LookupError, TimeoutError)."""
        await asyncio.wait_for(self._start(), self.timeout_s)

    async def _start(self) -> None:
        await self.consumer.start()
        # A consumer with no subscription keeps no topic metadata (partitions_for_topic is
        # None): ask the cluster (aiokafka has no public call for one topic's partitions).
        cluster = await self.consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(self.topic)
        if not partitions:
            raise LookupError(f"topic {self.topic} does not exist (no worker has run here)")
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(assigned)
        await self.consumer.seek_to_end(*assigned)
        for tp in assigned:
            await self.consumer.position(tp)  # resolves the end offset now, before the command starts

    async def next_change(self) -> ScopeTotals:
        while True:
            batch = await self.consumer.getmany(timeout_ms=_POLL_MS)
            changed = False
            for messages in batch.values():
                for message in messages:
                    if message.key != self.wanted or message.value is None:
                        continue
                    try:
                        record = ScopeTotals.from_json_dict(orjson.loads(message.value))
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                        log.warning("a totals record of %s is not readable: skipped", self.wanted)
                        continue
                    if self.latest is None or record.version > self.latest.version:
                        self.latest, changed = record, True
            if changed and self.latest is not None:
                return self.latest

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.consumer.stop()


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def stop_group(pgid: int, grace_s: float) -> None:
    """SIGTERM to the process group, SIGKILL to what is left of it after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while loop.time() < deadline:
        if not group_alive(pgid):
            return
        await asyncio.sleep(0.05)
    log.warning("process group %d still alive %.1fs after SIGTERM: SIGKILL", pgid, grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass
class Guard:
    """Follows one run's scope and stops its process group when a limit trips."""

    scope: str
    limits: Limits
    grace_s: float
    follower: TotalsFollower
    stopped: Verdict | None = None
    warned: bool = False

    async def watch(self, pgid: int, say: Callable[[str], None] | None = None) -> None:
        """Until a limit trips (then stop the group), or following fails (then say so)."""
        say = say or _say
        try:
            await self._watch(pgid, say)
        except Exception as exc:  # the command goes on; it must not go on believing it is guarded
            log.exception("the budget guard of %s failed", self.scope)
            say(f"spendstream run: warning: budget no longer enforced: {type(exc).__name__}: {exc}")

    async def _watch(self, pgid: int, say: Callable[[str], None]) -> None:
        while True:
            verdict = judge(await self.follower.next_change(), self.limits)
            if verdict is None:
                continue
            if verdict.stop:
                self.stopped = verdict
                say(verdict_line(self.scope, verdict))
                await stop_group(pgid, self.grace_s)
                return
            if not self.warned:
                self.warned = True
                say(verdict_line(self.scope, verdict))


class BudgetUnavailable(RuntimeError):
    """``--fail-closed`` and the live totals cannot be followed: the command must not start."""


async def start_guard(
    settings: Settings, scope: str, limits: Limits, grace_s: float, *, fail_closed: bool
) -> Guard | None:
    """A started guard; None (after one warning on stderr) when Kafka cannot be reached,
    or BudgetUnavailable with ``fail_closed``."""
    follower = TotalsFollower(settings, scope)
    try:
        await follower.start()
    except Exception as exc:  # any failure to follow means: not enforced (or, fail-closed, not started)
        await follower.close()
        reason = f"cannot follow the live totals ({type(exc).__name__}: {exc})"
        if fail_closed:
            raise BudgetUnavailable(f"{reason}; --fail-closed: not starting the command") from exc
        _say(f"spendstream run: warning: budget NOT enforced: {reason}")
        return None
    return Guard(scope, limits, grace_s, follower)
