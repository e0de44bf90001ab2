"""Kafka client options and topic creation, derived from the settings object only.

Topics are created explicitly (the local broker has auto-creation off) because Faust
requires source topics and table changelogs to agree on partition counts, and an
auto-created topic with another count makes an agent fail silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
)

from config.settings import Settings

RAW, USAGE, DEADLETTER, TOTALS, WINDOWS = "raw", "usage", "deadletter", "totals", "windows"
OBSERVATIONS, DELTAS, ALERTS = "observations", "deltas", "alerts"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool
    doc: str


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(RAW, False, "raw CLI lines, byte for byte; key = stream id; headers: schemas/raw.py"),
    TopicSpec(OBSERVATIONS, False, "internal: observations packed per ledger partition; key = ledger key"),
    TopicSpec(USAGE, False, "normalized usage events (deltas), JSON; key = root scope id"),
    TopicSpec(DELTAS, False, "internal: usage events packed per rollup partition; key = root"),
    TopicSpec(DEADLETTER, False, "records that could not be used: original bytes + headers + reason"),
    TopicSpec(TOTALS, True, "per-scope own and subtree totals, JSON upserts; key = scope id"),
    TopicSpec(WINDOWS, True, "per-scope event-time window totals, JSON upserts; key = scope|size|start"),
    TopicSpec(
        ALERTS, True, "budget rules' alerts, JSON (schemas/alerts.schema.json); key = rule|subject|threshold"
    ),
)


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options for aiokafka clients (security from the settings, never printed)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism or "SCRAM-SHA-512"
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    return options


def topic_config(spec: TopicSpec) -> dict[str, str]:
    if spec.compacted:
        return {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
    # Raw and usage records are the replayable ledger: kept until an operator decides.
    return {"cleanup.policy": "delete", "retention.ms": "-1"}


async def ensure_topics(
    settings: Settings, names: tuple[str, ...] | None = None, wait_s: float = 60.0
) -> None:
    """Create spendstream's topics (all, or the given short names) if they do not exist."""
    wanted = [spec for spec in TOPICS if names is None or spec.name in names]
    new_topics = [
        NewTopic(
            name=settings.topic(spec.name),
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            topic_configs=topic_config(spec),
        )
        for spec in wanted
    ]
    await create_topics(settings, new_topics, wait_s=wait_s)


_REFUSED = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)


def _raise_refusals(topic_errors: list[tuple[Any, ...]]) -> None:
    """CreateTopics answers per topic; the admin client raises none of them."""
    for name, code, *_ in topic_errors:
        if code == TopicAuthorizationFailedError.errno:
            raise TopicAuthorizationFailedError(name)
        if code == ClusterAuthorizationFailedError.errno:
            raise ClusterAuthorizationFailedError(name)


async def create_topics(settings: Settings, new_topics: list[NewTopic], wait_s: float = 60.0) -> None:
    """Create topics, retrying while a just-started broker is not ready yet."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in new_topics if t.name not in existing]
            if missing:
                # Another client may create the same topic at the same moment.
                with contextlib.suppress(TopicAlreadyExistsError):
                    response = await admin.create_topics(missing)
                    _raise_refusals(response.topic_errors)
            return
        except _REFUSED:
            raise  # an ACL does not appear by retrying
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            from config.access import diagnose  # config.access builds on this module

            refused = await diagnose(settings) if isinstance(exc, KafkaConnectionError) else None
            if refused is not None:
                raise refused from exc
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"could not create topics on {settings.bootstrap_servers}: {exc}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
