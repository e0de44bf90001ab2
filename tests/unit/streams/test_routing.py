"""Observations and deltas packed per partition: routing, limits, and the origin of each envelope."""

from __future__ import annotations

import pytest

from schemas import envelope, packing
from schemas.accounting import ORIGIN_SLOTS, delta_line, origin_header, origin_of, parse_delta
from schemas.errors import TerminalError
from schemas.usage import SchemaError
from streams.routing import MAX_PACK_BYTES, Packs, crc32_partitioner, partition_for
from tests.unit.sinks.factory import event


def test_each_envelope_lands_in_the_partition_of_its_key_in_order() -> None:
    packs = Packs(4)
    added = [(f"id:key-{i % 7}".encode(), f'{{"n":{i}}}'.encode()) for i in range(50)]
    for key, value in added:
        packs.add(key, value)
    seen: dict[int, list[bytes]] = {}
    for partition, _key, value, headers in packs.records():
        parts = packing.unpack(value, headers, max_items=envelope.MAX_ENVELOPES)
        seen.setdefault(partition, []).extend(parts)
    expected: dict[int, list[bytes]] = {}
    for key, value in added:
        expected.setdefault(partition_for(key, 4), []).append(value)
    assert seen == expected
    assert sum(len(v) for v in seen.values()) == 50


def test_packs_are_cut_at_the_count_and_byte_limits() -> None:
    packs = Packs(1)
    for i in range(envelope.MAX_ENVELOPES + 10):
        packs.add(b"k", b"x" * 10 + str(i).encode())
    counts = [len(packing.unpack(v, h, max_items=envelope.MAX_ENVELOPES)) for _, _, v, h in packs.records()]
    assert counts == [envelope.MAX_ENVELOPES, 10]
    big = Packs(1)
    for _ in range(3):
        big.add(b"k", b"y" * (MAX_PACK_BYTES // 2))
    sizes = [len(packing.unpack(v, h, max_items=envelope.MAX_ENVELOPES)) for _, _, v, h in big.records()]
    assert sizes == [1, 1, 1]


def test_a_single_envelope_travels_without_a_count_header() -> None:
    packs = Packs(2)
    packs.add(b"only", b'{"v":1}')
    [(_, key, value, headers)] = list(packs.records())
    assert (key, value, headers) == (b"only", b'{"v":1}', [])
    assert packing.unpack(value, headers, max_items=envelope.MAX_ENVELOPES) == [b'{"v":1}']


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (b"a\nb", [(packing.H_COUNT, b"3")]),
        (b"a", [(packing.H_COUNT, b"zero")]),
        (b"a", [(packing.H_COUNT, b"0")]),
        (b"a", [(packing.H_COUNT, str(envelope.MAX_ENVELOPES + 1).encode())]),
    ],
)
def test_a_malformed_pack_is_a_terminal_error(value: bytes, headers: list[tuple[str, bytes]]) -> None:
    with pytest.raises(TerminalError):
        packing.unpack(value, headers, max_items=envelope.MAX_ENVELOPES)


def test_origins_grow_with_offset_then_index() -> None:
    origins = [origin_of([("ss-origin", origin_header(2, o, i))]) for o in (5, 6) for i in (0, 1, 9)]
    assert origins == sorted(origins)
    assert origins[0] == (2, 5 * ORIGIN_SLOTS) and origins[-1] == (2, 6 * ORIGIN_SLOTS + 9)


def test_the_partitioner_is_deterministic_and_in_range() -> None:
    for i in range(200):
        key = f"root-{i}".encode()
        assert crc32_partitioner(key, [0, 1, 2, 3], [0, 1, 2, 3]) == partition_for(key, 4)
    assert crc32_partitioner(None, [0, 1], [1]) == 1


def test_a_delta_carries_its_origin_and_event_through_a_pack() -> None:
    events = [event(n, session=f"root/{n}", lineage=("root",), cost="1.000000123") for n in range(3)]
    packs = Packs(4)
    for index, usage in enumerate(events):
        packs.add(b"root", delta_line(origin_header(1, 7, index), usage.to_json()))
    [(partition, key, value, headers)] = list(packs.records())
    assert (partition, key) == (partition_for(b"root", 4), b"root")
    parsed = [parse_delta(data) for data in packing.unpack(value, headers, max_items=envelope.MAX_ENVELOPES)]
    assert parsed == [((1, 7 * ORIGIN_SLOTS + i), usage) for i, usage in enumerate(events)]


@pytest.mark.parametrize("data", [b'{"event_id":"e1"}', b"1:2", b"x:2 {}", b"1:2 not json", b"1:2 {}"])
def test_a_malformed_delta_is_a_schema_error(data: bytes) -> None:
    with pytest.raises(SchemaError):
        parse_delta(data)
