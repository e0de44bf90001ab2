"""The sink's decisions without a broker (sinks/buffer.py): stale, bad, repeat, cut, full, due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from schemas.usage import UsageEvent
from sinks.buffer import Flush, PartitionBuffers
from sinks.compact import DATASETS
from sinks.lake import USAGE
from sinks.layout import day_of
from sinks.policy import SinkPolicy
from tests.unit.sinks.factory import T0, event

WIDE = SinkPolicy(max_rows=1_000_000, flush_seconds=3600.0)
DAY1, DAY2 = day_of(T0), day_of(T0 + timedelta(days=1))


@dataclass(frozen=True)
class Record:
    """The parts of a Kafka record the sink reads (``sinks.dataset.KafkaRecord``)."""

    offset: int
    value: bytes | None
    partition: int = 0
    timestamp: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


def records(values: list[bytes], start: int = 0) -> list[Record]:
    return [Record(offset, value) for offset, value in enumerate(values, start)]


class Lake:
    """What ``load_ids`` reads: the identities per (partition, date), and who asked."""

    def __init__(self, held: dict[tuple[int, str], set[str]] | None = None) -> None:
        self.held = held or {}
        self.loads: list[tuple[int, str]] = []

    def __call__(self, partition: int, day: str) -> set[str]:
        self.loads.append((partition, day))
        return set(self.held.get((partition, day), ()))


def buffers(policy: SinkPolicy = WIDE, lake: Lake | None = None) -> PartitionBuffers[UsageEvent]:
    return PartitionBuffers(USAGE, policy, lake if lake is not None else Lake())


def ids(flush: Flush[UsageEvent]) -> list[str]:
    return [item.event_id for _, item in flush.rows]


def test_records_before_assign_or_before_the_expected_offset_are_stale() -> None:
    values = [event(n).to_json() for n in range(6)]
    sink = buffers()
    assert sink.add(0, records(values[:3]), now=0.0) == []  # fetched before the seek
    sink.assign(0, 2)
    assert sink.add(0, records(values[:4]), now=0.0) == []  # 0 and 1 lie before the commit
    assert sink.add(0, records(values[2:5], start=2), now=0.0) == []  # 2 and 3 again: stale now
    assert sink.stats.stale_records == 3 + 2 + 2
    [flush] = sink.drain()
    assert (ids(flush), flush.commit, flush.cause) == (["e000002", "e000003", "e000004"], 5, "stop")


def test_a_bad_record_holds_no_row_but_its_offset_is_committed() -> None:
    sink = buffers()
    sink.assign(0, 0)
    sink.add(0, [Record(0, b"{not json"), Record(1, None), Record(2, event(2).to_json())], now=0.0)
    sink.add(0, [Record(3, b"[]")], now=0.0)
    assert sink.stats.bad_records == 3
    [flush] = sink.drain()
    assert (ids(flush), flush.commit) == (["e000002"], 4)
    # Bad records alone: a flush with nothing to write, so that their offsets get committed.
    sink.add(0, [Record(4, b"x")], now=1.0)
    assert [(f.rows, f.commit, f.cause) for f in sink.due(now=1.0)] == [([], 5, "skipped")]
    assert sink.due(now=2.0) == []


def test_a_repeat_in_the_buffer_or_in_the_lake_is_dropped_and_its_offset_committed() -> None:
    lake = Lake({(0, DAY1): {"e000001"}})
    sink = buffers(lake=lake)
    sink.assign(0, 10)
    values = [event(n).to_json() for n in (0, 1, 2, 0, 2, 3)]
    sink.add(0, records(values, start=10), now=0.0)
    assert sink.stats.repeated_records == 3  # e1 in the lake, e0 and e2 in the buffer
    assert lake.loads == [(0, DAY1)]  # a date's ids are read once
    [flush] = sink.drain()
    assert (ids(flush), [o for o, _ in flush.rows], flush.commit) == (
        ["e000000", "e000002", "e000003"],
        [10, 12, 15],
        16,
    )


def test_ids_of_a_flush_count_as_buffered_until_written_then_join_the_index() -> None:
    lake = Lake()
    sink = buffers(SinkPolicy(max_rows=2, flush_seconds=3600.0), lake)
    sink.assign(0, 0)
    # The flush of e0, e1 is handed out mid-fetch, unwritten: their repeats right after it drop.
    [flush] = sink.add(0, records([event(n).to_json() for n in (0, 1, 0, 1)]), now=0.0)
    assert (ids(flush), flush.commit, flush.cause) == (["e000000", "e000001"], 2, "rows")
    assert sink.stats.repeated_records == 2
    sink.written(flush, files=1)
    assert (sink.stats.rows_written, sink.stats.files_written) == (2, 1)
    # Written: the index has them (the lake is not read again for the date).
    sink.add(0, [Record(4, event(0).to_json())], now=0.0)
    assert sink.stats.repeated_records == 3 and lake.loads == [(0, DAY1)]


def test_full_by_rows_or_bytes_flushes_after_the_item() -> None:
    sink = buffers(SinkPolicy(max_rows=3, flush_seconds=3600.0))
    sink.assign(0, 0)
    flushes = sink.add(0, records([event(n).to_json() for n in range(7)]), now=0.0)
    assert [(ids(f)[-1], f.commit, f.cause) for f in flushes] == [
        ("e000002", 3, "rows"),
        ("e000005", 6, "rows"),
    ]
    size = len(event(0).to_json())
    sink = buffers(SinkPolicy(max_bytes=2 * size, flush_seconds=3600.0))
    sink.assign(0, 0)
    flushes = sink.add(0, records([event(n).to_json() for n in range(3)]), now=0.0)
    assert [(len(f.rows), f.cause) for f in flushes] == [(2, "bytes")]


def test_a_cut_flushes_the_buffer_before_an_item_that_would_stretch_its_dates_span() -> None:
    sink = buffers(SinkPolicy(max_rows=100, flush_seconds=3600.0, max_span=timedelta(minutes=10)))
    sink.assign(0, 0)
    times = [T0, T0 + timedelta(days=1), T0 + timedelta(minutes=5), T0 + timedelta(minutes=11)]
    flushes = sink.add(0, records([event(n, at=t).to_json() for n, t in enumerate(times)]), now=0.0)
    # The fourth item stretches its date to 11 minutes: the three before it go, both dates.
    assert [(ids(f), f.commit, f.cause) for f in flushes] == [(["e000000", "e000001", "e000002"], 3, "span")]
    [rest] = sink.drain()
    assert ids(rest) == ["e000003"]


def test_due_by_age_of_the_oldest_row_per_partition() -> None:
    sink = buffers(SinkPolicy(max_rows=100, flush_seconds=2.0))
    sink.assign(0, 0)
    sink.assign(1, 0)
    sink.add(0, records([event(0).to_json()]), now=10.0)
    sink.add(1, records([event(1).to_json()]), now=11.0)
    sink.add(0, [Record(1, event(2).to_json())], now=11.5)
    assert sink.due(now=11.9) == []
    [flush] = sink.due(now=12.0)
    assert (flush.partition, ids(flush), flush.cause) == (0, ["e000000", "e000002"], "age")
    assert [(f.partition, f.cause) for f in sink.due(now=13.0)] == [(1, "age")]


def test_revoke_hands_out_the_last_flush_and_forgets_the_partition() -> None:
    lake = Lake()
    sink = buffers(lake=lake)
    sink.assign(0, 0)
    sink.add(0, records([event(0).to_json(), b"bad"]), now=0.0)
    [flush] = sink.revoke(0)
    assert (ids(flush), flush.commit, flush.cause) == (["e000000"], 2, "revoke")
    sink.written(flush, files=1)  # written after the revoke: counted, no index to join
    assert sink.revoke(0) == [] and sink.drain() == []
    assert sink.add(0, [Record(2, event(1).to_json())], now=0.0) == []
    assert sink.stats.stale_records == 1
    # Assigned again (another member may have written it meanwhile): the lake is read again.
    sink.assign(0, 2)
    sink.add(0, [Record(2, event(0).to_json())], now=0.0)
    assert lake.loads == [(0, DAY1), (0, DAY1)]
    assert sink.stats.repeated_records == 0  # the lake stand-in holds nothing: not a repeat


def test_assign_drops_what_was_buffered_and_expects_the_new_start() -> None:
    sink = buffers()
    sink.assign(0, 0)
    sink.add(0, records([event(n).to_json() for n in range(3)]), now=0.0)
    sink.assign(0, 1)  # resumed at the commit: the buffer is read again from there
    sink.add(0, records([event(n).to_json() for n in range(1, 3)], start=1), now=0.0)
    [flush] = sink.drain()
    assert ([o for o, _ in flush.rows], flush.commit) == ([1, 2], 3)
    assert sink.stats.repeated_records == 0


def test_a_buffer_that_met_no_offset_makes_no_flush() -> None:
    sink = buffers()
    sink.assign(0, 5)
    assert sink.due(now=100.0) == [] and sink.drain() == [] and sink.revoke(0) == []


def test_every_dataset_names_an_identity_column_it_writes() -> None:
    # The resume rule drops what it reads again by identity: a dataset without one would not be exact.
    for dataset in DATASETS.values():
        assert dataset.identity_column in dataset.schema.names, dataset.name
    record = event(7)
    table = USAGE.to_table(0, [(3, record)])
    assert table[USAGE.identity_column].to_pylist() == [USAGE.identity(record)] == ["e000007"]
