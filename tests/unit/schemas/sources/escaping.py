"""JSON text with random ``\\uXXXX`` escapes: the same value, spelled so a byte search misses it."""

from __future__ import annotations

import json
import random
from typing import Any


def _string(text: str, rnd: random.Random, rate: float) -> str:
    out = ['"']
    for char in text:
        if ord(char) < 0x10000 and not 0xD800 <= ord(char) < 0xE000 and rnd.random() < rate:
            code = f"{ord(char):04x}"
            out.append("\\u" + (code.upper() if rnd.random() < 0.5 else code))
        else:
            out.append(json.dumps(char)[1:-1])
    out.append('"')
    return "".join(out)


def dumps_escaped(value: Any, rnd: random.Random, rate: float) -> bytes:
    """``value`` as JSON where each character of every key and string is written as a
    ``\\uXXXX`` escape with probability ``rate`` (hex digits in either case)."""

    def dump(item: Any) -> str:
        if isinstance(item, str):
            return _string(item, rnd, rate)
        if isinstance(item, dict):
            return "{" + ",".join(f"{_string(str(k), rnd, rate)}:{dump(v)}" for k, v in item.items()) + "}"
        if isinstance(item, list):
            return "[" + ",".join(dump(v) for v in item) + "]"
        return json.dumps(item)

    return dump(value).encode()
