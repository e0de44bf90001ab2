"""``report --from`` over the process pool equals the serial reading through one ledger.

The fast route makes the ledger's events from each response's growth steps
(schemas/response_totals.py ``events``); the exact route and the serial reading run the
ledger itself. Every event but its id, and every report kind, must be the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import gen_fixture_history, gen_history
from schemas.ledger import MemoryLedger
from schemas.pricing import default_price_table
from sinks.memory_lake import MemoryLake
from sinks.reports import build_report
from spendstream.local_parse import expand_paths
from spendstream.local_report import _read_serially, read_files

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
