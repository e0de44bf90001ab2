"""DuckDB over the Parquet lake: one in-memory connection (UTC) with the analysts' views.

- ``usage``: one row per usage event (a delta), so ``SUM`` over it gives true totals. The
  sink is exact (see ``sinks/layout.py``), so no dedup view is needed; ``audit`` checks it.
- ``sessions`` (per scope), ``daily`` (per UTC event date), ``models``, and ``tree``:
  subtree totals per scope, a root's row including every descendant (``lineage`` lists the
  ancestors, root first).
- ``deadletter``: why and where raw lines failed (no content).

Views read only *live* files (superseded ones are skipped; see ``layout.resolve``) and list
them when the connection is made. ``where`` (label key -> value) keeps only the events
labelled so, in ``usage`` and so in every view built on it. Schema evolution: files are
read with ``union_by_name``; every column of today's schema is projected with its type
(NULL, or 0 for token counts, where older files lack it), and extra columns from newer files
pass through. So rows written before the response ids and the cost split existed have them
NULL; totals sum the split over the rows that have one and name the cost of the others
``unsplit_cost_usd``, so ``input + output + cache_read + cache_write_5m + cache_write_1h +
unsplit`` is exactly ``cost_usd`` for every group.

The views are built over any relation with the usage schema: ``sinks/memory_lake.py`` puts
local files' events in a DuckDB table and gets the same views, so the same report SQL.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from schemas.usage import COST_PART_FIELDS, TOKEN_FIELDS
from sinks.deadletter import DEADLETTER_DATASET, DEADLETTER_SCHEMA
from sinks.lake import USAGE_DATASET, USAGE_SCHEMA
from sinks.layout import live_files

if TYPE_CHECKING:
    # Imported where a connection is made: `report --from` forks its parsing workers first
    # and imports DuckDB (0.1 s) while they run.
    import duckdb

_DUCK_TYPES = {
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "string": "VARCHAR",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    "list<item: string>": "VARCHAR[]",
    "map<string, string>": "MAP(VARCHAR, VARCHAR)",
}

# The cost split's sums, in the order of COST_SPLIT_COLUMNS (see the module doc).
COST_SPLIT_COLUMNS: tuple[str, ...] = (*COST_PART_FIELDS, "unsplit_cost_usd")
COST_SPLIT_SUMS = ", ".join(
    [
        *[f"sum({name}) AS {name}" for name in COST_PART_FIELDS],
        f"sum(cost_usd) FILTER (WHERE {COST_PART_FIELDS[0]} IS NULL) AS unsplit_cost_usd",
    ]
)
_TOTALS = ",\n".join(
    [
        "@EVENTS AS events",
        *[f"sum({name}) AS {name}" for name in TOKEN_FIELDS],
        "sum(cost_usd) AS cost_usd",
        COST_SPLIT_SUMS,
    ]
)
# How a group's cost was obtained: the distinct cost_source values of its events.
COST_SOURCES = "list_sort(list(DISTINCT cost_source) FILTER (WHERE cost_source IS NOT NULL)) AS cost_sources"

_VIEWS = {
    "sessions": """
        SELECT session_id, any_value(root_id) AS root_id, any_value(lineage) AS lineage,
               coalesce(list_sort(list(DISTINCT model) FILTER (WHERE model IS NOT NULL)), []) AS models,
               min(event_time) AS first_event, @LAST_EVENT AS last_event, @SOURCES, @TOTALS
        FROM usage GROUP BY session_id""",
    "daily": """
        SELECT date, count(DISTINCT session_id) AS sessions, @SOURCES, @TOTALS
        FROM usage GROUP BY date""",
    "models": """
        SELECT model, count(DISTINCT session_id) AS sessions, @SOURCES, @TOTALS
        FROM usage GROUP BY model""",
    "tree": """
        WITH expanded AS (
            SELECT unnest(scopes) AS scope_id, unnest(range(len(scopes))) AS depth,
                   scopes[depth] AS parent_id, scopes[1:depth + 1] AS path, *
            FROM (SELECT *, list_append(coalesce(lineage, []), session_id) AS scopes FROM usage)
        )
        SELECT scope_id, any_value(root_id) AS root_id, any_value(parent_id) AS parent_id,
               min(depth) AS depth, any_value(path) AS path, count(DISTINCT session_id) AS sessions,
               @OWN_EVENTS AS own_events,
               coalesce(sum(cost_usd) FILTER (WHERE session_id = scope_id), 0) AS own_cost_usd,
               @SOURCES, @TOTALS
        FROM expanded GROUP BY scope_id""",
}

VIEWS: tuple[str, ...] = (USAGE_DATASET, DEADLETTER_DATASET, *_VIEWS)

# How the views and reports aggregate events, over rows of one event each (the lake) and
# over summed rows (sinks/summed_rows.py: ``event_rows`` events, the first at
# ``event_time``, the last at ``last_event_time``).
_AGGREGATES: dict[bool, dict[str, str]] = {
    False: {
        "@OWN_EVENTS": "count(*) FILTER (WHERE session_id = scope_id)",
        "@EVENTS": "count(*)",
        "@LAST_EVENT": "max(event_time)",
    },
    True: {
        "@OWN_EVENTS": "coalesce(CAST(sum(event_rows) FILTER (WHERE session_id = scope_id) AS BIGINT), 0)",
        "@EVENTS": "CAST(sum(event_rows) AS BIGINT)",
        "@LAST_EVENT": "max(last_event_time)",
    },
}


def aggregates(sql: str, summed: bool = False) -> str:
    """``sql`` with its event aggregates spelled for the rows it reads: ``@EVENTS`` (the
    number of events of a group), ``@OWN_EVENTS`` (of a tree scope's own), ``@LAST_EVENT``
    (the last event's time). Over summed rows these are sums and maxima of the rows' counts
    and last times, so every group gets the values it would over the events themselves."""
    for token, expression in _AGGREGATES[summed].items():
        sql = sql.replace(token, expression)
    return sql


def duck_type(arrow_type: pa.DataType) -> str:
    text = str(arrow_type)
    if text.startswith("decimal128("):
        return text.replace("decimal128", "DECIMAL")
    return _DUCK_TYPES[text]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dataset_sql(
    con: duckdb.DuckDBPyConnection, paths: Sequence[Path], schema: pa.Schema, zero_filled: Sequence[str]
) -> str:
    """SELECT of the dataset's current schema (+ newer columns, + ``date``) over the files."""
    if paths:
        files = "[" + ", ".join(_quote_text(str(p)) for p in paths) + "]"
        source = (
            f"read_parquet({files}, hive_partitioning = true, union_by_name = true, "
            "hive_types = {'date': DATE})"
        )
        present = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]  # noqa: S608
    else:
        source, present = "(SELECT CAST(NULL AS DATE) AS date WHERE false)", ["date"]
    columns = []
    for field in schema:
        kind = duck_type(field.type)
        if field.name in present:
            expr = f"CAST({_quote_ident(field.name)} AS {kind})"
        else:
            expr = f"CAST(NULL AS {kind})"
        if field.name in zero_filled:
            expr = f"coalesce({expr}, 0)"
        columns.append(f"{expr} AS {_quote_ident(field.name)}")
    extras = [name for name in present if name not in schema.names and name != "date"]
    columns.extend(_quote_ident(name) for name in extras)
    columns.append("CAST(date AS DATE) AS date")
    return f"SELECT {', '.join(columns)} FROM {source}"  # noqa: S608 - quoted names and paths


def label_filter(where: Mapping[str, str] | None) -> str:
    """SQL condition on ``labels`` keeping events labelled with every ``key=value``."""
    if not where:
        return "true"
    return " AND ".join(f"labels[{_quote_text(k)}] = {_quote_text(v)}" for k, v in sorted(where.items()))


def create_views(
    con: duckdb.DuckDBPyConnection,
    usage_sql: str,
    deadletter_sql: str,
    where: Mapping[str, str] | None = None,
    *,
    summed: bool = False,
) -> None:
    """The analysts' views over ``usage_sql``: rows of the usage schema plus ``date``, one
    per event, or with ``summed`` rows that sum events (sinks/summed_rows.py)."""
    usage = f"SELECT * FROM ({usage_sql}) WHERE {label_filter(where)}"  # noqa: S608 - quoted values
    con.execute(f"CREATE VIEW usage AS {usage}")
    con.execute(f"CREATE VIEW deadletter AS {deadletter_sql}")
    for name, sql in _VIEWS.items():
        body = sql.replace("@TOTALS", _TOTALS).replace("@SOURCES", COST_SOURCES)
        con.execute(f"CREATE VIEW {name} AS " + aggregates(body, summed))


def empty_deadletter_sql(con: duckdb.DuckDBPyConnection) -> str:
    """A ``deadletter`` relation with no rows (for sources other than the lake)."""
    return _dataset_sql(con, [], DEADLETTER_SCHEMA, ())


def connect(
    data_dir: Path,
    *,
    since: str | None = None,
    until: str | None = None,
    where: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (UTC) with the lake's views over dates ``since..until``
    (and events labelled as ``where`` says)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        usage_files = live_files(data_dir, USAGE_DATASET, since=since, until=until)
        dead_files = live_files(data_dir, DEADLETTER_DATASET, since=since, until=until)
        create_views(
            con,
            _dataset_sql(con, usage_files, USAGE_SCHEMA, TOKEN_FIELDS),
            _dataset_sql(con, dead_files, DEADLETTER_SCHEMA, ()),
            where,
        )
    except BaseException:
        con.close()
        raise
    return con


def execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of one statement on ``con``."""
    cursor = con.execute(sql, params) if params is not None else con.execute(sql)
    columns = [d[0] for d in cursor.description or ()]
    return columns, list(cursor.fetchall())


def _run(
    data_dir: Path,
    sql: str,
    params: Sequence[object] | None,
    since: str | None,
    until: str | None,
    where: Mapping[str, str] | None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    con = connect(data_dir, since=since, until=until, where=where)
    try:
        return execute(con, sql, params)
    finally:
        con.close()


def query(
    data_dir: Path,
    sql: str,
    params: Sequence[object] | None = None,
    *,
    since: str | None = None,
    until: str | None = None,
    where: Mapping[str, str] | None = None,
    attempts: int = 5,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of one statement over the views.

    A file can vanish between listing and reading when ``compact`` deletes the inputs it
    has just superseded; the statement is then run again over a fresh listing.
    """
    import duckdb

    for attempt in range(1, attempts + 1):
        try:
            return _run(data_dir, sql, params, since, until, where)
        except duckdb.IOException:
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


class Catalog(Protocol):
    """Something that runs SQL over the views: the lake, or events held in memory."""

    def query(
        self, sql: str, params: Sequence[object] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]: ...

    @property
    def grain(self) -> str | None:
        """None when each row is one event, else how its rows sum events (sinks/summed_rows.py;
        ``aggregates`` spells a report's SQL for them)."""
        ...


@dataclasses.dataclass(frozen=True)
class LakeCatalog:
    """The lake under ``data_dir``, dates ``since..until``, events labelled as ``where`` says."""

    data_dir: Path
    since: str | None = None
    until: str | None = None
    where: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def grain(self) -> str | None:
        return None

    def query(
        self, sql: str, params: Sequence[object] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        return query(self.data_dir, sql, params, since=self.since, until=self.until, where=self.where)


def run_query(
    data_dir: Path, sql: str, parameters: Sequence[object] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of one SQL statement (with ``?`` parameters) over the lake's views."""
    return query(data_dir, sql, parameters)


def audit(data_dir: Path) -> dict[str, int]:
    """Rows, and rows that share a Kafka position or an event id with another (both must be 0)."""
    _, rows = query(
        data_dir,
        """
        SELECT count(*),
               count(*) - count(DISTINCT (kafka_partition, kafka_offset)),
               count(*) - count(DISTINCT event_id)
        FROM usage
        """,
    )
    total, by_position, by_event = rows[0]
    return {"rows": total, "duplicate_positions": by_position, "duplicate_event_ids": by_event}
