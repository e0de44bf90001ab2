"""The internal ``observations`` topic record: one Observation with the LineContext it came from.

Written by the worker's normalize stage, read by its accounting stage; never by users.
The codec follows the dataclass fields, so optional fields added later travel unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
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
    encode = _ENCODERS.get(type(value))
    if encode is not None:
        return encode(value)
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


def _same(value: Any) -> Any:
    return value


# Exact types first (one dict lookup per field: this runs for every field of every
# observation twice per line); subclasses and other mappings fall through to isinstance.
_ENCODERS: dict[type, Callable[[Any], Any]] = {
    str: _same,
    int: _same,
    bool: _same,
    type(None): _same,
    datetime: lambda value: {"$t": value.isoformat()},
    Decimal: lambda value: {"$d": usd_str(value)},
    TokenCounts: TokenCounts.as_dict,
    tuple: list,
    dict: dict,
}


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_OBSERVATION_FIELDS = _field_names(Observation)
_CONTEXT_FIELDS = _field_names(LineContext)
_NAMES = {Observation: frozenset(_OBSERVATION_FIELDS), LineContext: frozenset(_CONTEXT_FIELDS)}


# Values JSON takes as they are (``_same`` above): most fields of every envelope are.
_PLAIN = frozenset((str, int, bool, type(None)))


def _encode(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    encoded = {}
    for name in names:
        value = getattr(obj, name)
        encoded[name] = value if type(value) in _PLAIN else _encode_value(value)
    return encoded


def _decode(cls: type[_T], raw: Mapping[str, Any]) -> _T:
    names = _NAMES[cls]
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in names:
            continue
        if type(value) is dict:
            if "$t" in value:
                value = datetime.fromisoformat(value["$t"])
            elif "$d" in value:
                value = to_usd(value["$d"])
            elif name == "tokens":
                value = TokenCounts(**value)
        elif name == "tokens":
            value = TokenCounts(**value)  # not an object: TypeError, a bad envelope
        elif type(value) is list:
            value = tuple(value)
        values[name] = value
    return cls(**values)


def encode(observation: Observation, context: LineContext) -> bytes:
    return orjson.dumps(
        {
            "v": ENVELOPE_VERSION,
            "obs": _encode(observation, _OBSERVATION_FIELDS),
            "ctx": _encode(context, _CONTEXT_FIELDS),
        }
    )


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
