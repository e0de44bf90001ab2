"""``report --from`` over the process pool equals the serial reading through one ledger.

The fast route makes the ledger's events from each response's growth steps
(schemas/response_totals.py ``events``); the exact route and the serial reading run the
ledger itself. Every event but its id, and every report kind, must be the same.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench import gen_fixture_history, gen_history
from schemas.ledger import MemoryLedger
from schemas.pricing import default_price_table
from sinks.lake_rows import Selection
from sinks.memory_lake import MemoryLake
from sinks.report_kinds import grains_for
from sinks.reports import build_report
from sinks.summed_rows import Summing
from spendstream import parallel_parse
from spendstream.local_parse import expand_paths
from spendstream.local_report import LocalReading, _read_serially, read_files
from spendstream.parallel_parse import MIN_TASK_BYTES, _tasks

KINDS = ("session", "daily", "model", "messages", "tree")
# Every column of the lake's rows but the event id and the row's position.
ROW_SQL = (
    "SELECT * EXCLUDE (event_id, kafka_partition, kafka_offset, date) FROM usage "
    "ORDER BY session_id, message_id, event_time, output_tokens, input_tokens"
)


def _read(paths: list[Path], *, parallel: bool, **where: Any) -> tuple[list[Any], dict[str, Any]]:
    files = [(path, "auto") for path in paths]
    ledger = MemoryLedger(prices=default_price_table(), mode="reported")
    with MemoryLake(**where) as lake:
        if parallel:
            read_files(files, lake, ledger, "runner-1", {"team": "a"}, jobs=2)
        else:
            _read_serially(files, lake, ledger, "runner-1", {"team": "a"})
        rows = lake.query(ROW_SQL)[1]
        reports = {kind: build_report(lake, kind).rows for kind in KINDS}  # type: ignore[arg-type]
    return rows, reports


@pytest.mark.parametrize("shape", ["fixture", "synthetic"])
def test_pool_equals_serial_on_generated_histories(tmp_path: Path, shape: str) -> None:
    make = gen_fixture_history.generate if shape == "fixture" else gen_history.generate
    make(tmp_path, 4 * 2**20, 11)
    paths = expand_paths([str(tmp_path / "projects")])
    pool_rows, pool_reports = _read(paths, parallel=True)
    serial_rows, serial_reports = _read(paths, parallel=False)
    assert len(pool_rows) == len(serial_rows) > 100
    assert pool_rows == serial_rows
    assert pool_reports == serial_reports


def test_pool_equals_serial_on_every_real_fixture(real_fixtures: Path) -> None:
    repo_fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    paths = expand_paths([str(real_fixtures), str(repo_fixtures)])
    assert _read(paths, parallel=True) == _read(paths, parallel=False)


def test_dates_and_labels_select_the_same_events(tmp_path: Path) -> None:
    gen_history.generate(tmp_path, 3 * 2**20, 5)
    paths = expand_paths([str(tmp_path / "projects")])
    window = {"since": "2025-11-04", "until": "2025-11-05", "where": {"team": "a"}}
    pool = _read(paths, parallel=True, **window)
    assert pool == _read(paths, parallel=False, **window)
    assert 0 < len(pool[0]) < len(_read(paths, parallel=True)[0])


@pytest.mark.parametrize("seed", [101, 202, 303])
def test_random_histories_and_windows_read_the_same(tmp_path: Path, seed: int) -> None:
    """Random histories (both generators), a random date window and label selection."""
    rnd = random.Random(seed)
    make = rnd.choice([gen_fixture_history.generate, gen_history.generate])
    make(tmp_path, rnd.randint(1, 3) * 2**20, seed)
    paths = expand_paths([str(tmp_path / "projects")])
    everything = _read(paths, parallel=True)
    first = rnd.choice(_days(paths))
    window = {
        "since": first.isoformat(),
        "until": (first + timedelta(days=rnd.randint(0, 2))).isoformat(),
        "where": rnd.choice([{}, {"team": "a"}]),
    }
    pool = _read(paths, parallel=True, **window)
    serial = _read(paths, parallel=False, **window)
    assert len(pool[0]) == len(serial[0]) > 0, f"seed={seed} window={window}"
    assert pool[0] == serial[0], f"seed={seed} window={window}"
    assert pool[1] == serial[1], f"seed={seed} window={window}"
    assert everything == _read(paths, parallel=False), f"seed={seed}"


def _days(paths: list[Path]) -> list[date]:
    ledger = MemoryLedger(prices=default_price_table(), mode="reported")
    with MemoryLake() as lake:
        _read_serially([(path, "auto") for path in paths], lake, ledger, "runner-1", None)
        return [row[0] for row in lake.query("SELECT DISTINCT date FROM usage ORDER BY 1")[1]]


@pytest.mark.parametrize("seed", range(20))
def test_pool_tasks_take_every_group_once_in_order(seed: int) -> None:
    rnd = random.Random(seed)
    sizes = [rnd.choice([0, 1_000, 300_000, 3 * 2**20, 40 * 2**20]) for _ in range(rnd.randint(1, 300))]
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    workers = rnd.randint(2, 8)
    tasks = _tasks(order, sizes, workers)
    assert [i for task in tasks for i in task] == order, f"seed={seed}"
    assert all(tasks), f"seed={seed}"
    # Every task but the last reaches the smallest size and a share of what was left.
    left = sum(sizes)
    for task in tasks[:-1]:
        size = sum(sizes[i] for i in task)
        assert size >= max(MIN_TASK_BYTES, left / (4 * workers)), f"seed={seed}"
        left -= size


def test_a_lake_of_another_selection_is_refused(tmp_path: Path) -> None:
    gen_history.generate(tmp_path, 2**20, 3)
    files = [(path, "auto") for path in expand_paths([str(tmp_path / "projects")])]
    ledger = MemoryLedger(prices=default_price_table(), mode="reported")
    with (
        LocalReading(files, Selection(since="2025-11-04"), ledger, "runner-1", jobs=2) as reading,
        MemoryLake() as lake,
        pytest.raises(ValueError, match="other events"),
    ):
        reading.finish(lake)
    with (
        LocalReading(files, Selection(since="2025-11-04"), ledger, "runner-1", jobs=2) as reading,
        MemoryLake(since="2025-11-04") as lake,
    ):
        reading.finish(lake)
        assert lake.query("SELECT min(date) FROM usage")[1] == [(date(2025, 11, 4),)]


def _reports(paths: list[Path], grain: str | None, *, parallel: bool, **where: Any) -> dict[str, Any]:
    files = [(path, "auto") for path in paths]
    ledger = MemoryLedger(prices=default_price_table(), mode="reported")
    kinds = [kind for kind in KINDS if grain is None or grain in grains_for(kind)]
    with MemoryLake(**where, grain=grain) as lake:  # type: ignore[arg-type]
        if parallel:
            read_files(files, lake, ledger, "runner-1", {"team": "a"}, jobs=2)
        else:
            _read_serially(files, lake, ledger, "runner-1", {"team": "a"})
        got = {kind: build_report(lake, kind).as_dict() for kind in kinds}  # type: ignore[arg-type]
        got["label"] = build_report(lake, "label", label_key="team").as_dict()
    return got


@pytest.mark.parametrize("grain", ["scope", "response"])
def test_summed_lakes_report_what_the_events_report(tmp_path: Path, real_fixtures: Path, grain: str) -> None:
    """``report --from``'s summed rows (sinks/summed_rows.py), through the pool (the fast
    route sums responses, the exact route events) and serially (events added one by one),
    give every report kind the values of one row per event."""
    gen_fixture_history.generate(tmp_path / "a", 3 * 2**20, 5)
    gen_history.generate(tmp_path / "b", 3 * 2**20, 6)
    repo_fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    for paths in (
        expand_paths([str(tmp_path / "a" / "projects"), str(tmp_path / "b" / "projects")]),
        expand_paths([str(real_fixtures), str(repo_fixtures)]),
    ):
        for window in ({}, {"since": "2025-11-04", "until": "2025-11-05", "where": {"team": "a"}}):
            want = _reports(paths, None, parallel=True, **window)
            assert want["session"]["rows"] or window, window
            for parallel in (True, False):
                got = _reports(paths, grain, parallel=parallel, **window)
                assert got == {kind: want[kind] for kind in got}, (grain, parallel, window)


def test_a_summing_lake_refuses_rows_summed_otherwise(tmp_path: Path) -> None:
    gen_history.generate(tmp_path, 2**20, 3)
    files = [(path, "auto") for path in expand_paths([str(tmp_path / "projects")])]
    ledger = MemoryLedger(prices=default_price_table(), mode="reported")
    with (
        LocalReading(files, Summing(Selection(), "response"), ledger, "runner-1", jobs=2) as reading,
        MemoryLake(grain="scope") as lake,
        pytest.raises(ValueError, match="other events"),
    ):
        reading.finish(lake)


def test_summed_rows_sent_as_tables_report_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker sends many summed rows as a pyarrow table instead (parallel_parse
    ``SUMMED_ROWS_SENT``): the same reports."""
    gen_fixture_history.generate(tmp_path, 2 * 2**20, 9)
    paths = expand_paths([str(tmp_path / "projects")])
    want = _reports(paths, None, parallel=True)
    sent = {grain: _reports(paths, grain, parallel=True) for grain in ("scope", "response")}
    monkeypatch.setattr(parallel_parse, "SUMMED_ROWS_SENT", 0)
    for grain in ("scope", "response"):
        tabled = _reports(paths, grain, parallel=True)
        assert tabled == sent[grain] == {kind: want[kind] for kind in tabled}, grain
