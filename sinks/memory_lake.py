"""Usage events held in memory with the lake's views over them: reports without a broker.

``spendstream report KIND --from PATH`` turns files into the very ``UsageEvent``s the worker
would publish (``spendstream/local_parse.py``) and adds them here. They become rows of the
lake's own schema (``sinks.lake.usage_table``, so the same columns, types and exact
decimals), under the same views (``sinks.catalog.create_views``); a report then runs the
same SQL as over Parquet and gives the same numbers. Events added one by one go to a DuckDB
table; Arrow tables (``add_tables``: the process pool's, already in the lake's schema) are
read by DuckDB where they are, with no copy into it (the copy was 0.09 s of 1 GiB's report,
and the views read Arrow as fast).

Memory: events are appended to DuckDB (columnar) in batches, so Python holds at most one
batch; events outside the report's dates or labels are dropped on the way in, as the lake's
views would drop them. Reports need more than totals (sessions, trees, distinct counts), so
the lake keeps one row per event in range, or with ``grain`` one row per set of events no
report tells apart (sinks/summed_rows.py): per response for ``messages``, per scope, model
and day for every other kind. ``report --from`` sums (a 1 GiB history is 700 rows instead
of 127,534); the views and reports then read ``count(*)`` as a sum of the rows' counts
(``sinks.catalog.aggregates``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from schemas.usage import UsageEvent
from sinks.catalog import create_views, empty_deadletter_sql, execute
from sinks.lake import SUMMED_SCHEMA, usage_table
from sinks.lake_rows import Selection
from sinks.summed_rows import Grain, SummedRows, Summing

BATCH_ROWS = 20_000
_TABLE = "usage_rows"
_ARROW = "usage_tables"  # the Arrow tables added, registered with DuckDB


class MemoryLake:
    """One DuckDB connection (UTC) with a usage table and the catalog's views over it.

    ``since``/``until`` (inclusive ``YYYY-MM-DD``, UTC event dates) and ``where`` (label
    key -> value) select the events kept, exactly as ``LakeCatalog`` selects rows.
    """

    def __init__(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        where: Mapping[str, str] | None = None,
        batch_rows: int = BATCH_ROWS,
        grain: Grain | None = None,
    ) -> None:
        self.since, self.until = since, until
        self.where = dict(where or {})
        self.selection = Selection(since, until, self.where)
        self.summing = None if grain is None else Summing(self.selection, grain)
        self.batch_rows = batch_rows
        self.rows = 0
        self._pending: list[tuple[int, UsageEvent]] = []
        self._summed = None if grain is None else SummedRows(grain)
        self._tables: list[pa.Table] = []
        import duckdb  # here: see sinks/catalog.py

        self._con = duckdb.connect(":memory:")
        try:
            self._con.execute("SET TimeZone = 'UTC'")
            empty = usage_table(0, []) if grain is None else SUMMED_SCHEMA.empty_table()
            self._con.register("empty_usage", empty)
            self._con.execute(f"CREATE TABLE {_TABLE} AS SELECT * FROM empty_usage")  # noqa: S608
            self._con.unregister("empty_usage")
            self._con.register(_ARROW, empty)
            rows = f"SELECT * FROM {_TABLE} UNION ALL SELECT * FROM {_ARROW}"  # noqa: S608
            date = "CAST(event_time AS DATE)"  # the UTC date (TimeZone is UTC), as the lake's date=
            create_views(
                self._con,
                f"SELECT *, {date} AS date FROM ({rows})",  # noqa: S608 - constant names
                empty_deadletter_sql(self._con),
                self.where,
                summed=grain is not None,
            )
        except BaseException:
            self._con.close()
            raise

    @property
    def grain(self) -> str | None:
        """How its rows sum events, None when each is one (``sinks.catalog.Catalog``)."""
        return None if self.summing is None else self.summing.grain

    def selector(self) -> Selection | Summing:
        """What this lake keeps, as a pure function (for worker processes): its selection,
        and with a grain how it sums (tables given to :meth:`add_tables` must be made so)."""
        return self.selection if self.summing is None else self.summing

    def add_tables(self, tables: Sequence[pa.Table | SummedRows]) -> None:
        """Keep tables of ``usage_table``'s schema (with a grain: ``SUMMED_SCHEMA``'s, or
        ``SummedRows`` of that grain) whose events were selected already (by
        :meth:`selector`); their rows get the next offsets of partition 0. DuckDB reads them
        in place (the module says why), so they must not change."""
        if self._summed is not None:
            sums = [t for t in tables if isinstance(t, SummedRows)]
            for rows in sums:
                self._summed.extend(rows)
            tables = [t for t in tables if not isinstance(t, SummedRows)]
        if not tables:
            return
        self.flush()
        table = pa.concat_tables(tables)
        offsets = pa.array(range(self.rows, self.rows + table.num_rows), pa.int64())
        self._tables.append(
            table.set_column(table.schema.get_field_index("kafka_offset"), "kafka_offset", offsets)
        )
        self._con.register(_ARROW, pa.concat_tables(self._tables))
        self.rows += table.num_rows

    def add(self, event: UsageEvent) -> None:
        """Keep one event (a row, at the next offset of partition 0) if the report selects it."""
        if not self.selection(event):
            return
        if self._summed is not None:
            self._summed.add_event(event)
            if len(self._summed) >= self.batch_rows:
                self.flush()
            return
        self._pending.append((self.rows, event))
        self.rows += 1
        if len(self._pending) >= self.batch_rows:
            self.flush()

    def add_all(self, events: Sequence[UsageEvent]) -> None:
        for event in events:
            self.add(event)

    def flush(self) -> None:
        if self._summed is not None and self._summed.groups:
            table = self._summed.table()
            self._summed.groups.clear()
            offsets = pa.array(range(self.rows, self.rows + table.num_rows), pa.int64())
            self.rows += table.num_rows
            self._insert(
                table.set_column(table.schema.get_field_index("kafka_offset"), "kafka_offset", offsets)
            )
        if not self._pending:
            return
        self._insert(usage_table(0, self._pending))
        self._pending.clear()

    def _insert(self, table: pa.Table) -> None:
        self._con.register("usage_batch", table)
        try:
            self._con.execute(f"INSERT INTO {_TABLE} SELECT * FROM usage_batch")  # noqa: S608
        finally:
            self._con.unregister("usage_batch")

    def query(
        self, sql: str, params: Sequence[object] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of one statement over the views (``sinks.catalog.Catalog``)."""
        self.flush()
        return execute(self._con, sql, params)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> MemoryLake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
