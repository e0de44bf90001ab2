"""One codec for a Kafka record that carries several items: raw lines, envelopes, deltas.

The value is the items joined by ``\n`` and the header ``ss-lines: N`` says how many; a
record of one item has no header and its value is the item itself, byte for byte (so a
single item may contain ``\n``; packed items may not). Raw records (schemas/raw.py) and
the worker's internal topics (observations, deltas) share this codec; each reader passes
the bound of its own topic as ``max_items``.

Why a count header and not just a split: a packed record cut short, or a single line that
happens to contain a newline, must be told apart from a pack; the count makes a record
whose value and header disagree invalid instead of silently becoming other items.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schemas.sources.base import BadLine

H_COUNT = "ss-lines"
SEPARATOR = b"\n"


def pack(items: Sequence[bytes]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of a record holding ``items`` (no header for one item).

    Raises ValueError for no items, or for a packed item that contains the separator (a
    programming error: such an item must travel alone).
    """
    if not items:
        raise ValueError("a record holds at least one item")
    if len(items) == 1:
        return items[0], []
    if any(SEPARATOR in item for item in items):
        raise ValueError("a packed item may not contain a newline")
    return SEPARATOR.join(items), [(H_COUNT, str(len(items)).encode("ascii"))]


def item_count(headers: Iterable[tuple[str, bytes | None]] | None, *, max_items: int) -> int:
    """The ``ss-lines`` count of a record (1 when absent); raises BadLine when it is invalid."""
    found: bytes | None = None
    seen = False
    for key, raw in headers or ():
        if key != H_COUNT:
            continue
        if seen:
            raise BadLine(f"header {H_COUNT} repeated")
        seen = True
        if raw is None:  # Kafka allows a header without a value; aiokafka gives None
            raise BadLine(f"header {H_COUNT} has no value")
        found = raw
    if found is None:
        return 1
    # isdigit, not int() alone: int() also takes " 3", "+3" and "1_0".
    if not isinstance(found, bytes) or not found.isdigit():
        raise BadLine(f"header {H_COUNT} is not an integer")
    try:
        count = int(found)
    except ValueError as exc:  # more digits than int() accepts
        raise BadLine(f"header {H_COUNT} out of range 1..{max_items}") from exc
    if not 1 <= count <= max_items:
        raise BadLine(f"header {H_COUNT} out of range 1..{max_items}")
    return count


def unpack(
    value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None, *, max_items: int
) -> list[bytes]:
    """The items of a record; raises BadLine when its value or ``ss-lines`` is invalid."""
    count = item_count(headers, max_items=max_items)
    if value is None:
        raise BadLine("record has no value")
    if count == 1:
        return [value]
    items = value.split(SEPARATOR)
    if len(items) != count:
        raise BadLine(f"packed record holds {len(items)} lines, header {H_COUNT} says {count}")
    return items
