"""The internal ``observations`` topic record: one Observation with the LineContext it came from.

Written by the worker's normalize stage, read by its accounting stage; never by users.
The codec follows the dataclass fields, so optional fields added later travel unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from schemas.money import to_usd, usd_str
from schemas.sources.base import LineContext, Observation
from schemas.usage import SchemaError, TokenCounts

ENVELOPE_VERSION = 1
_T = TypeVar("_T")


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$d": usd_str(value)}
    if isinstance(value, TokenCounts):
        return value.as_dict()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _decode_value(name: str, value: Any) -> Any:
    if isinstance(value, dict) and "$t" in value:
        return datetime.fromisoformat(value["$t"])
    if isinstance(value, dict) and "$d" in value:
        return to_usd(value["$d"])
    if name == "tokens":
        return TokenCounts(**value)
    if isinstance(value, list):
        return tuple(value)
    return value


def _encode(obj: Any) -> dict[str, Any]:
    return {f.name: _encode_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _decode(cls: type[_T], raw: Mapping[str, Any]) -> _T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: _decode_value(k, v) for k, v in raw.items() if k in names})


def encode(observation: Observation, context: LineContext) -> bytes:
    return orjson.dumps({"v": ENVELOPE_VERSION, "obs": _encode(observation), "ctx": _encode(context)})


def decode(data: bytes) -> tuple[Observation, LineContext]:
    """Decode an envelope; anything malformed raises SchemaError."""
    try:
        raw = orjson.loads(data)
        if raw.get("v") != ENVELOPE_VERSION:
            raise SchemaError(f"unsupported envelope version {raw.get('v')!r}")
        return _decode(Observation, raw["obs"]), _decode(LineContext, raw["ctx"])
    except SchemaError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SchemaError(f"bad observation envelope: {exc}") from exc


# Several envelopes travel in one observations or deltas record (normalize packs a batch's
# observations per ledger partition, the ledger its deltas): schemas/packing.py, the same
# codec as raw records (an envelope is JSON without a newline). This bound is the
# internal topics' ``max_items``; accounting.ORIGIN_SLOTS depends on it.
MAX_ENVELOPES = 4096
