"""The normalized usage event: one delta of usage for one scope and one model.

Tokens carry ONE meaning across sources:
- ``input_tokens`` excludes cache reads and cache writes;
- ``output_tokens`` includes reasoning/thinking (``reasoning_tokens`` is the part of it
  that the source reports as reasoning);
- cache writes that the source does not attribute to a TTL count as 5-minute writes.

An event may name the API response it is a delta of (``message_id``, ``request_id``: ids
the source gives, documented per source in schemas/sources/README.md) and split its cost
by what was bought (:class:`CostSplit`, the rule in schemas/attribution.py).

No prompt, code, tool output or model text is ever a field of this record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson

from schemas.errors import TerminalError
from schemas.money import ZERO_USD, MoneyError, is_exact_usd, to_usd, usd_str

SCHEMA_VERSION = 1

CostSource = Literal["reported", "computed", "unpriced"]
COST_SOURCES: tuple[str, ...] = ("reported", "computed", "unpriced")
# How the usage was billed (schemas/README.md, "Auth mode"). ``unknown``: no evidence; the
# worker sets it on every event it makes (``None`` is only read in records from before).
AuthMode = Literal["api_key", "subscription", "unknown"]
AUTH_MODES: tuple[str, ...] = ("api_key", "subscription", "unknown")
UNKNOWN_AUTH: AuthMode = "unknown"

_MAX_ID_LEN = 512
# The range of every token field of a usage record and of a total (schemas/README.md, "Ranges").
MAX_TOKENS = 10**15


class SchemaError(TerminalError):
    """A record that does not satisfy the usage-event schema; the message names the field."""


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Token counts with spendstream's single meaning per field (see module docstring)."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    web_search_requests: int = 0

    def __post_init__(self) -> None:
        # One pass over the values (this runs for every sum in the rollup's hot path).
        for value in (
            self.input_tokens,
            self.output_tokens,
            self.reasoning_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.web_search_requests,
        ):
            if type(value) is not int or not 0 <= value <= MAX_TOKENS:
                for name in TOKEN_FIELDS:
                    bad = getattr(self, name)
                    if type(bad) is not int or not 0 <= bad <= MAX_TOKENS:
                        raise SchemaError(f"{name} must be a non-negative integer, got {bad!r}")

    @property
    def total(self) -> int:
        """All tokens that went through the model (reasoning is part of output, counted once)."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
        )

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.web_search_requests + other.web_search_requests,
        )

    def is_zero(self) -> bool:
        # Spelled out: the ledger asks it of every observation it accounts.
        return (
            self.input_tokens == 0
            and self.output_tokens == 0
            and self.reasoning_tokens == 0
            and self.cache_read_tokens == 0
            and self.cache_write_5m_tokens == 0
            and self.cache_write_1h_tokens == 0
            and self.web_search_requests == 0
        )

    def as_dict(self) -> dict[str, int]:
        # Spelled out (TOKEN_FIELDS order): this runs for every record the rollup emits.
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "web_search_requests": self.web_search_requests,
        }

    def as_list(self) -> list[int]:
        """The counts in TOKEN_FIELDS order (the ledger state's encoding)."""
        return [
            self.input_tokens,
            self.output_tokens,
            self.reasoning_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.web_search_requests,
        ]


TOKEN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TokenCounts))


# The parts of a CostSplit, as JSON, lake and report fields name them.
COST_PART_FIELDS: tuple[str, ...] = (
    "input_cost_usd",
    "output_cost_usd",
    "cache_read_cost_usd",
    "cache_write_5m_cost_usd",
    "cache_write_1h_cost_usd",
)


@dataclass(frozen=True, slots=True)
class CostSplit:
    """A cost in parts by what it bought; ``input`` includes web-search fees (a charge per
    request, no token type). Exact amounts of at most 12 places; how a cost is split is
    schemas/attribution.py's rule."""

    input: Decimal = ZERO_USD
    output: Decimal = ZERO_USD
    cache_read: Decimal = ZERO_USD
    cache_write_5m: Decimal = ZERO_USD
    cache_write_1h: Decimal = ZERO_USD

    def __post_init__(self) -> None:
        if (
            is_exact_usd(self.input)
            and is_exact_usd(self.output)
            and is_exact_usd(self.cache_read)
            and is_exact_usd(self.cache_write_5m)
            and is_exact_usd(self.cache_write_1h)
        ):
            return  # every part passes the check below
        for name, amount in zip(COST_PART_FIELDS, self.parts(), strict=True):
            try:
                if not isinstance(amount, Decimal) or to_usd(amount) != amount:
                    raise SchemaError(f"{name} has more than 12 decimal places")
            except MoneyError as exc:
                raise SchemaError(f"{name}: {exc}") from exc

    def parts(self) -> tuple[Decimal, ...]:
        """The amounts in the order of COST_PART_FIELDS."""
        return (self.input, self.output, self.cache_read, self.cache_write_5m, self.cache_write_1h)

    @property
    def cache_write(self) -> Decimal:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def total(self) -> Decimal:
        return sum(self.parts(), ZERO_USD)

    def as_json_dict(self) -> dict[str, str]:
        return {name: usd_str(amount) for name, amount in zip(COST_PART_FIELDS, self.parts(), strict=True)}

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> CostSplit | None:
        """The split of a JSON event; None when it has none (written before splits existed)."""
        present = [raw.get(name) is not None for name in COST_PART_FIELDS]
        if not any(present):
            return None
        if not all(present):
            raise SchemaError(f"a cost split has all of {', '.join(COST_PART_FIELDS)} or none")
        for name in COST_PART_FIELDS:
            if not isinstance(raw[name], str):
                raise SchemaError(f"{name} must be a decimal string")
        try:
            return cls(*(to_usd(raw[name]) for name in COST_PART_FIELDS))
        except MoneyError as exc:
            raise SchemaError(f"cost split: {exc}") from exc


def event_id_for(*parts: str) -> str:
    """Deterministic event id: the same identity parts always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One delta of usage for one scope (``session_id``) and one model."""

    event_id: str
    source: str
    runner_id: str
    session_id: str
    event_time: datetime
    tokens: TokenCounts
    cost_usd: Decimal
    cost_source: CostSource
    lineage: tuple[str, ...] = ()
    agent_id: str | None = None
    model: str | None = None
    auth_mode: AuthMode | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # Highest event time of the source stream when this usage was reported: windows judge
    # lateness by it, because the source stream is in order and the usage topic is not.
    source_watermark: datetime | None = None
    # The API response this usage is a delta of, when the source names it (ids only).
    message_id: str | None = None
    request_id: str | None = None
    # ``cost_usd`` by what it bought; None only for events written before splits existed.
    cost_split: CostSplit | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        for name in ("event_id", "source", "runner_id"):
            check_id(name, getattr(self, name))
        check_scope_ids(
            self.session_id, self.lineage, self.agent_id, self.model, self.message_id, self.request_id
        )
        if self.event_time.tzinfo is None:
            raise SchemaError("event_time must be timezone-aware")
        if self.source_watermark is not None and self.source_watermark.tzinfo is None:
            raise SchemaError("source_watermark must be timezone-aware")
        if self.cost_source not in COST_SOURCES:
            raise SchemaError(f"cost_source must be one of {COST_SOURCES}")
        if self.auth_mode is not None and self.auth_mode not in AUTH_MODES:
            raise SchemaError(f"auth_mode must be one of {AUTH_MODES}")
        if not is_exact_usd(self.cost_usd):
            try:
                if to_usd(self.cost_usd) != self.cost_usd:
                    raise SchemaError("cost_usd has more than 12 decimal places")
            except MoneyError as exc:
                raise SchemaError(f"cost_usd: {exc}") from exc
        if self.cost_source == "unpriced" and self.cost_usd != ZERO_USD:
            raise SchemaError("an unpriced event has no cost")
        if self.cost_split is not None and self.cost_split.total != self.cost_usd:
            raise SchemaError("the cost split does not sum to cost_usd")
        if self.schema_version != SCHEMA_VERSION:
            raise SchemaError(f"unsupported schema_version {self.schema_version}")

    @property
    def root_id(self) -> str:
        """The root of the agent tree this scope belongs to (itself when it has no parent)."""
        return self.lineage[0] if self.lineage else self.session_id

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope this usage adds to: its ancestors, root first, then its own."""
        return (*self.lineage, self.session_id)

    def with_changes(self, **changes: Any) -> UsageEvent:
        return replace(self, **changes)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "event_id": self.event_id,
            "source": self.source,
            "runner_id": self.runner_id,
            "session_id": self.session_id,
            "lineage": list(self.lineage),
            "root_id": self.root_id,
            "agent_id": self.agent_id,
            "model": self.model,
            "event_time": self.event_time.astimezone(UTC).isoformat(timespec="microseconds"),
            **self.tokens.as_dict(),
            "cost_usd": usd_str(self.cost_usd),
            "cost_source": self.cost_source,
            "auth_mode": self.auth_mode,
            "labels": dict(self.labels),
            "source_watermark": (
                None
                if self.source_watermark is None
                else self.source_watermark.astimezone(UTC).isoformat(timespec="microseconds")
            ),
            "message_id": self.message_id,
            "request_id": self.request_id,
            **(
                dict.fromkeys(COST_PART_FIELDS) if self.cost_split is None else self.cost_split.as_json_dict()
            ),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_json_dict())

    @classmethod
    def from_json(cls, data: bytes) -> UsageEvent:
        try:
            raw = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SchemaError(f"not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise SchemaError("a usage event is a JSON object")
        return cls.from_json_dict(raw)

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> UsageEvent:
        try:
            labels = raw.get("labels") or {}
            if not isinstance(labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
            ):
                raise SchemaError("labels must map strings to strings")
            lineage = raw.get("lineage") or []
            if not isinstance(lineage, list):
                raise SchemaError("lineage must be a list")
            return cls(
                schema_version=raw["schema_version"],
                event_id=raw["event_id"],
                source=raw["source"],
                runner_id=raw["runner_id"],
                session_id=raw["session_id"],
                lineage=tuple(lineage),
                agent_id=raw.get("agent_id"),
                model=raw.get("model"),
                event_time=datetime.fromisoformat(raw["event_time"]),
                tokens=TokenCounts(**{n: raw.get(n, 0) for n in TOKEN_FIELDS}),
                cost_usd=to_usd(raw["cost_usd"]),
                cost_source=raw["cost_source"],
                auth_mode=raw.get("auth_mode"),
                labels=labels,
                source_watermark=(
                    datetime.fromisoformat(raw["source_watermark"]) if raw.get("source_watermark") else None
                ),
                message_id=raw.get("message_id"),
                request_id=raw.get("request_id"),
                cost_split=CostSplit.from_json_dict(raw),
            )
        except KeyError as exc:
            raise SchemaError(f"missing field {exc.args[0]}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(str(exc)) from exc


def check_scope_ids(
    session_id: str,
    lineage: tuple[str, ...],
    agent_id: str | None,
    model: str | None,
    message_id: str | None,
    request_id: str | None,
) -> None:
    """:class:`UsageEvent`'s checks of its scope and response fields, in its order (it runs
    them; so does a caller that makes the lake's rows of many events of one response)."""
    check_id("session_id", session_id)
    for ancestor in lineage:
        check_id("lineage", ancestor)
    if session_id in lineage:
        raise SchemaError("lineage must not contain the scope itself")
    if agent_id is not None:
        check_id("agent_id", agent_id)
    for name, value in (("model", model), ("message_id", message_id), ("request_id", request_id)):
        if value is not None:
            check_id(name, value)


def check_id(name: str, value: object) -> None:
    """:class:`UsageEvent`'s check of an id field ``name``."""
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_LEN:
        raise SchemaError(f"{name} must be a non-empty string of at most {_MAX_ID_LEN} characters")
