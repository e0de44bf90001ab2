"""DuckDB over the Parquet lake: one connection with views analysts can query.

``usage`` has one row per usage event (a delta), so ``SUM`` over it gives true totals.
Views read every file with ``union_by_name`` so files written by newer versions (with more
columns) and older ones can be read together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from sinks.lake import USAGE_DATASET, USAGE_SCHEMA

_DUCK_TYPES = {
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "string": "VARCHAR",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    "list<item: string>": "VARCHAR[]",
    "map<string, string>": "MAP(VARCHAR, VARCHAR)",
}


def _duck_type(arrow_type: object) -> str:
    text = str(arrow_type)
    if text.startswith("decimal128("):
        return text.replace("decimal128", "DECIMAL")
    return _DUCK_TYPES[text]


def _empty_usage_sql() -> str:
    columns = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in USAGE_SCHEMA)
    # Built from the schema constants only, never from user input.
    return f"SELECT {columns}, CAST(NULL AS DATE) AS date WHERE false"


def connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (UTC) with the lake's views defined."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    usage_dir = data_dir / USAGE_DATASET
    if any(usage_dir.glob("date=*/*.parquet")):
        pattern = str(usage_dir / "date=*" / "*.parquet").replace("'", "''")
        source = (
            f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "  # noqa: S608 - quoted path
            "union_by_name = true, hive_types = {'date': DATE})"
        )
    else:
        source = _empty_usage_sql()
    con.execute(f"CREATE VIEW usage AS {source}")
    con.execute(
        """
        CREATE VIEW sessions AS
        SELECT session_id, any_value(root_id) AS root_id, min(event_time) AS first_event,
               max(event_time) AS last_event, count(*) AS events,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               sum(cache_read_tokens) AS cache_read_tokens,
               sum(cache_write_5m_tokens) AS cache_write_5m_tokens,
               sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
               sum(cost_usd) AS cost_usd
        FROM usage GROUP BY session_id
        """
    )
    return con


def run_query(
    data_dir: Path, sql: str, parameters: Sequence[object] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of one SQL statement (with ``?`` parameters) over the lake's views."""
    con = connect(data_dir)
    try:
        cursor = con.execute(sql, parameters)
        columns = [d[0] for d in cursor.description or ()]
        rows: Sequence[tuple[Any, ...]] = cursor.fetchall()
        return columns, list(rows)
    finally:
        con.close()
