"""The spool: order, bound, crash safety, hand-over between processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.records import CorruptRecord, OutRecord, decode_frames, encode
from producers.spool import MAGIC, Spool, SpoolFull

TOPIC = "t.raw"


def record(n: int, size: int = 10) -> OutRecord:
    return OutRecord(b"stream-%d" % (n % 3), b"x" * size + b"%d" % n, (("ss-pos", b"%d" % n),))


def drain_all(spool: Spool) -> list[OutRecord]:
    out: list[OutRecord] = []
    while (chunk := spool.read_chunk(max_bytes=256)) is not None:
        out.extend(chunk.records)
        spool.ack(chunk)
    return out


def make(root: Path, **kw: int) -> Spool:
    return Spool(
        root, TOPIC, max_bytes=kw.get("max_bytes", 1 << 20), segment_bytes=kw.get("segment_bytes", 1024)
    )


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(max_size=300),
    value=st.binary(max_size=3000),
    headers=st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=50)), max_size=8),
)
def test_records_round_trip(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    rec = OutRecord(key, value, tuple(headers))
    frames = encode(rec) + encode(rec)
    decoded, used = decode_frames(frames)
    assert [r for r, _ in decoded] == [rec, rec] and used == len(frames)
    torn, used = decode_frames(frames[:-1])
    assert [r for r, _ in torn] == [rec] and used == len(encode(rec))


def test_a_flipped_byte_is_corruption_not_a_torn_tail() -> None:
    frame = bytearray(encode(record(1)))
    frame[-3] ^= 0xFF
    with pytest.raises(CorruptRecord):
        decode_frames(bytes(frame))


def test_drains_in_append_order_across_segments(tmp_path: Path) -> None:
    spool = make(tmp_path, segment_bytes=300)
    records = [record(n) for n in range(200)]
    for start in range(0, 200, 7):
        spool.append(records[start : start + 7])
    assert len(list((tmp_path / TOPIC).glob("*.seg"))) > 3
    assert drain_all(spool) == records
    assert not spool.pending()
    spool.close()
    assert list((tmp_path / TOPIC).glob("*.seg")) == []


def test_bound_refuses_unless_overflow_is_allowed(tmp_path: Path) -> None:
    spool = make(tmp_path, max_bytes=2000, segment_bytes=1 << 20)
    with pytest.raises(SpoolFull):
        for n in range(100):
            spool.append([record(n, size=100)])
    kept = spool.disk_bytes()
    assert kept <= 2000
    spool.append([record(999, size=100)], overflow_ok=True)
    assert spool.disk_bytes() > kept
    spool.close()


def test_a_second_process_takes_over_what_an_ended_one_left(tmp_path: Path) -> None:
    first = make(tmp_path)
    records = [record(n) for n in range(50)]
    first.append(records)
    chunk = first.read_chunk(max_bytes=200)
    assert chunk is not None
    first.ack(chunk)
    first.close()  # the writer ends with lines unsent: they stay on disk

    second = make(tmp_path)
    assert second.foreign_segments()
    assert second.claim_abandoned()
    assert drain_all(second) == records[len(chunk.records) :]
    second.release_drain_lock()
    assert second.foreign_segments() == []
    second.close()


def test_a_live_writers_segments_are_not_taken(tmp_path: Path) -> None:
    live = make(tmp_path)
    live.append([record(1)])
    other = make(tmp_path)
    assert other.claim_abandoned()
    assert other.read_chunk() is None  # still held by `live` (an flock per open file)
    other.release_drain_lock()
    assert drain_all(live) == [record(1)]
    live.close()
    other.close()


def test_only_one_drainer_at_a_time(tmp_path: Path) -> None:
    ended = make(tmp_path)
    ended.append([record(1)])
    ended.close()
    one, two = make(tmp_path), make(tmp_path)
    assert one.claim_abandoned()
    assert not two.claim_abandoned()
    one.release_drain_lock()
    assert two.claim_abandoned()
    two.close()
    one.close()


def test_a_torn_last_record_after_a_crash_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path; from producers.spool import Spool;"
        "from producers.records import OutRecord;"
        f"s = Spool(Path({str(tmp_path)!r}), {TOPIC!r}, max_bytes=1 << 20, segment_bytes=1 << 20);"
        "s.append([OutRecord(b'k', b'v%d' % n, ()) for n in range(5)]);"
        "seg = s._writer; os.write(seg.fd, b'\\x00\\x00\\x01\\x00partial'); os._exit(9)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[3], check=False)
    assert proc.returncode == 9  # died without closing anything
    survivor = make(tmp_path)
    assert survivor.claim_abandoned()
    assert [r.value for r in drain_all(survivor)] == [b"v%d" % n for n in range(5)]
    survivor.close()
    assert list((tmp_path / TOPIC).glob("*.seg")) == []


def test_a_damaged_segment_is_quarantined_and_later_ones_still_drain(tmp_path: Path) -> None:
    first = make(tmp_path)
    first.append([record(1)])
    first.close()
    (segment,) = (tmp_path / TOPIC).glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[len(MAGIC) + 12] ^= 0xFF
    segment.write_bytes(bytes(data))
    later = make(tmp_path)
    later.append([record(2)])
    later.close()
    drainer = make(tmp_path)
    assert drainer.claim_abandoned()
    assert drain_all(drainer) == [record(2)]
    drainer.close()
    assert [p.name for p in (tmp_path / "corrupt").iterdir()] == [segment.name]


def test_an_empty_segment_of_a_crashed_writer_is_removed(tmp_path: Path) -> None:
    folder = tmp_path / TOPIC
    folder.mkdir(parents=True)
    (folder / "00000000000000000001-1-0001.seg").write_bytes(b"")
    spool = make(tmp_path)
    assert spool.claim_abandoned()
    assert spool.read_chunk() is None
    spool.close()
    assert not any(folder.glob("*.seg"))


def test_nothing_is_created_until_something_is_spooled(tmp_path: Path) -> None:
    spool = make(tmp_path)
    assert spool.claim_abandoned() and spool.read_chunk() is None
    spool.close()
    assert not (tmp_path / TOPIC).exists()


def test_segment_files_are_private(tmp_path: Path) -> None:
    spool = make(tmp_path)
    spool.append([record(1)])
    (segment,) = (tmp_path / TOPIC).glob("*.seg")
    assert os.stat(segment).st_mode & 0o077 == 0
    spool.close()
