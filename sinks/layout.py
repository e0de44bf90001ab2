"""Where files live in the lake, what their names mean, and which files are live.

Layout: ``<data_dir>/<dataset>/date=YYYY-MM-DD/<topic>-p<partition>-<first>-<last>.parquet``.
A *row* is the first copy of an identity at its Kafka position; a bad record, a repeat of an
identity (same bytes, so same date) or a transaction marker holds no row. A group is one
dataset, date, topic and partition. Invariant: **a file holds every row of its group whose
offset lies in** ``[first, last]`` (named by the first and last offset of its own rows).

Why the sink keeps it: per group, the lake holds a *prefix* of the group's rows, every row up
to some offset ``b`` and none after it (``b`` differs from date to date). The sink resumes at
the committed offset, committed only once every file of a flush is durable, so it resumes at
or before ``b + 1`` of every date. A flush writes one file per date of its buffer, holding
every row of that date the buffer met: the buffer met every offset from its start to its end,
and the rows up to ``b`` it met it skipped as repeats (the lake holds their identities). So
the new file holds exactly the group's rows in ``(b, end]``, and ``b`` moves to the buffer's
end. A crash between two files of one flush advances some dates and not others: each is still
a prefix, and the restart re-reads from before all of them.

That invariant is what makes supersession exact, with no partial overlap:

- a new sink file's range lies in ``(b, end]``, every file of its group already in the lake
  lies in ``[0, b]``: sink files never overlap each other or a compacted file;
- **Supersession**: a file whose range lies inside another file's range (same group) holds a
  subset of that file's rows. It is dead: readers skip it, and compaction may delete it at
  any time. So compaction publishes the merged file first (one rename, atomic for readers)
  and deletes its inputs afterwards, and a crash between the two leaves only dead files behind.

A partial overlap needs two writers on one partition at once (a zombie sink); ``resolve``
reports it and ``compact`` repairs it.

Temp files start with a dot and end in ``.tmp`` so no ``*.parquet`` glob ever matches them.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

PARQUET = ".parquet"
_NAME_RE = re.compile(r"^(?P<topic>.+)-p(?P<partition>\d{4})-(?P<first>\d{20})-(?P<last>\d{20})\.parquet$")
_DATE_RE = re.compile(r"^date=(?P<day>\d{4}-\d{2}-\d{2})$")
_TEMP_RE = re.compile(r"^\..+\.(?P<tag>[a-z]+)-(?P<pid>\d+)\.tmp$")


def file_name(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """Deterministic name of the file holding one offset range (zero-padded: names sort by offset)."""
    if not 0 <= first_offset <= last_offset:
        raise ValueError(f"bad offset range {first_offset}..{last_offset}")
    return f"{topic}-p{partition:04d}-{first_offset:020d}-{last_offset:020d}{PARQUET}"


def day_of(moment: datetime) -> str:
    """The ``date=`` folder of an event time: its UTC date."""
    return moment.astimezone(UTC).date().isoformat()


def day_dir(data_dir: Path, dataset: str, day: str) -> Path:
    return data_dir / dataset / f"date={day}"


def temp_path(target: Path, tag: str) -> Path:
    """A hidden temp name beside ``target``, owned by this process (``tag`` says who wrote it)."""
    return target.with_name(f".{target.name}.{tag}-{os.getpid()}.tmp")


@dataclass(frozen=True, order=True)
class LakeFile:
    """One data file, described by its place and name alone (nothing is read)."""

    day: str
    topic: str
    partition: int
    first: int
    last: int
    path: Path = field(compare=False)

    @property
    def group(self) -> tuple[str, str, int]:
        """Files of one group can supersede each other: same date, topic and partition."""
        return (self.day, self.topic, self.partition)

    def covers(self, other: LakeFile) -> bool:
        return self.group == other.group and self.first <= other.first and other.last <= self.last


def parse_path(path: Path) -> LakeFile | None:
    """The LakeFile a path names, or None for anything that is not a data file."""
    name_match = _NAME_RE.match(path.name)
    date_match = _DATE_RE.match(path.parent.name)
    if name_match is None or date_match is None:
        return None
    first, last = int(name_match["first"]), int(name_match["last"])
    if first > last:
        return None
    return LakeFile(
        day=date_match["day"],
        topic=name_match["topic"],
        partition=int(name_match["partition"]),
        first=first,
        last=last,
        path=path,
    )


def list_files(
    data_dir: Path, dataset: str, *, topic: str | None = None, day: str | None = None
) -> list[LakeFile]:
    """Every data file of a dataset (live or dead), or of one date, sorted by date, topic,
    partition, offsets."""
    root = data_dir / dataset
    if not root.is_dir():
        return []
    files = []
    for path in root.glob(f"date={day or '*'}/*{PARQUET}"):
        parsed = parse_path(path)
        if parsed is not None and (topic is None or parsed.topic == topic):
            files.append(parsed)
    return sorted(files)


@dataclass(frozen=True)
class Resolution:
    """Which files readers use (``live``), which are dead, and ranges that overlap partly."""

    live: list[LakeFile]
    superseded: list[LakeFile]
    overlaps: list[tuple[LakeFile, LakeFile]]


def resolve(files: Iterable[LakeFile]) -> Resolution:
    """Split files into live and superseded; report partial overlaps (never made by this code).

    A partial overlap (``[0, 9]`` and ``[5, 14]``) needs two writers on one partition at once
    (a zombie sink that outlived its session); both files stay live and ``compact`` repairs
    the pair by keeping one row per Kafka position.
    """
    live: list[LakeFile] = []
    superseded: list[LakeFile] = []
    overlaps: list[tuple[LakeFile, LakeFile]] = []
    ordered = sorted(files, key=lambda f: (f.group, f.first, -f.last))
    for _, members in groupby(ordered, key=lambda f: f.group):
        cover: LakeFile | None = None
        for candidate in members:
            if cover is not None and candidate.last <= cover.last:
                superseded.append(candidate)
                continue
            if cover is not None and candidate.first <= cover.last:
                overlaps.append((cover, candidate))
            live.append(candidate)
            cover = candidate
    return Resolution(live=live, superseded=superseded, overlaps=overlaps)


def live_files(
    data_dir: Path, dataset: str, *, since: str | None = None, until: str | None = None
) -> list[Path]:
    """Paths readers should read, optionally limited to dates ``since..until`` (inclusive)."""
    resolution = resolve(list_files(data_dir, dataset))
    return [
        f.path
        for f in resolution.live
        if (since is None or f.day >= since) and (until is None or f.day <= until)
    ]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def iter_temps(data_dir: Path, dataset: str) -> Iterator[tuple[Path, int]]:
    root = data_dir / dataset
    if not root.is_dir():
        return
    for path in root.glob("date=*/.*.tmp"):
        match = _TEMP_RE.match(path.name)
        if match is not None:
            yield path, int(match["pid"])


def remove_stale_temps(data_dir: Path, dataset: str) -> list[Path]:
    """Delete temp files left by processes that no longer run (a killed sink or compaction)."""
    removed = []
    for path, pid in iter_temps(data_dir, dataset):
        if pid != os.getpid() and not _pid_alive(pid):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
