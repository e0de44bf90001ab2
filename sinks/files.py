"""Durable, atomic file operations for the lake: temp file, fsync, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sinks.layout import temp_path

COMPRESSION = "zstd"


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(table: pa.Table, target: Path, *, row_group_rows: int, tag: str) -> None:
    """Write a Parquet file so readers see either nothing or the whole file, durably.

    The temp name is hidden and ends in ``.tmp`` (no ``*.parquet`` glob sees it); it is
    removed if writing fails, and left for ``remove_stale_temps`` if the process dies.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target, tag)
    try:
        pq.write_table(
            table,
            tmp,
            compression=COMPRESSION,
            row_group_size=row_group_rows,
            write_statistics=True,
        )
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def remove_files(paths: Iterable[Path]) -> int:
    """Delete files (already gone is fine), then fsync each folder touched; returns how many."""
    folders: set[Path] = set()
    removed = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
        folders.add(path.parent)
    for folder in folders:
        if folder.is_dir():
            fsync_dir(folder)
    return removed
