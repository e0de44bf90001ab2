"""The lake queries behind ``spendstream serve``'s read-only API (and its dashboard).

- :func:`usage`: rows grouped by any of ``day``, ``model``, ``session`` (in that order),
  with the token fields, ``cost_usd``, the cost split (when the lake's events carry it),
  the cache hit ratio ``cache_read / (input + cache_read)`` (seed 003's definition) and
  the cost sources, between two UTC dates (inclusive).
- :func:`token_attribution`: one row per API response of a session (the events of one
  response merged), from the response identity the events carry.

Amounts are exact decimals, sent as strings; ratios are floats (display only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from schemas.money import usd_str
from schemas.usage import COST_PART_FIELDS, TOKEN_FIELDS
from sinks.catalog import connect

GROUPS = {"day": "date", "model": "model", "session": "session_id"}
# Cost-split columns of the lake's usage rows (newer events carry them; older rows: NULL).
SPLIT_COLUMNS = COST_PART_FIELDS
# Response identity of a usage row (newer events carry it).
MESSAGE_COLUMNS = ("message_id", "request_id")


class ApiError(ValueError):
    """A request the API cannot answer (bad parameter); the message says why."""


def parse_groups(text: str | None) -> list[str]:
    names = [part.strip() for part in (text or "day").split(",") if part.strip()]
    unknown = [name for name in names if name not in GROUPS]
    if unknown or not names:
        raise ApiError(f"group must be one or more of {', '.join(GROUPS)} (comma separated)")
    return sorted(set(names), key=list(GROUPS).index)


def parse_day(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(f"{name} must be a date, YYYY-MM-DD") from exc


def _columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("DESCRIBE usage").fetchall()}


def _sums(columns: set[str]) -> list[str]:
    sums = [f"sum({name}) AS {name}" for name in TOKEN_FIELDS]
    sums.append("sum(cost_usd) AS cost_usd")
    sums += [f"sum({c}) AS {c}" if c in columns else f"NULL AS {c}" for c in SPLIT_COLUMNS]
    return [*sums, "count(*) AS events", "list_sort(list(DISTINCT cost_source)) AS cost_sources"]


def _row(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        if isinstance(value, Decimal):
            row[name] = usd_str(value) if name.endswith("_usd") else int(value)
        elif isinstance(value, date):  # dates and datetimes (a datetime is a date)
            row[name] = value.isoformat()
        else:
            row[name] = value
    prompt = (row.get("input_tokens") or 0) + (row.get("cache_read_tokens") or 0)
    row["cache_hit_ratio"] = (row.get("cache_read_tokens") or 0) / prompt if prompt else None
    return row


def usage(
    data_dir: Path, *, group: Sequence[str], since: date | None, until: date | None
) -> list[dict[str, Any]]:
    """Rows per group of the lake's usage events with an event date in [since, until]."""
    keys = [GROUPS[name] for name in group]
    con = connect(
        data_dir,
        since=since.isoformat() if since is not None else None,
        until=until.isoformat() if until is not None else None,
    )
    try:
        where, params = ["TRUE"], []
        if since is not None:
            where.append("date >= ?")
            params.append(since)
        if until is not None:
            where.append("date <= ?")
            params.append(until)
        # Identifiers come from GROUPS and the schema only; values are parameters.
        select, filters = ", ".join([*keys, *_sums(_columns(con))]), " AND ".join(where)
        sql = f"SELECT {select} FROM usage WHERE {filters} GROUP BY ALL ORDER BY {', '.join(keys)}"  # noqa: S608
        result = con.execute(sql, params)
        names = [d[0] for d in result.description]
        return [_row(names, values) for values in result.fetchall()]
    finally:
        con.close()


def token_attribution(data_dir: Path, session: str) -> list[dict[str, Any]]:
    """One row per API response of ``session`` (its events merged), by event time."""
    con = connect(data_dir)
    try:
        columns = _columns(con)
        if not all(c in columns for c in MESSAGE_COLUMNS):
            raise ApiError("this lake's events carry no response identity (message_id, request_id)")
        # Column names from the schema only; the session is a parameter.
        heads = ["message_id", "request_id", "any_value(model) AS model", "min(event_time) AS first_event"]
        select = ", ".join([*heads, *_sums(columns)])
        order = "first_event, message_id NULLS LAST"
        sql = f"SELECT {select} FROM usage WHERE session_id = ? GROUP BY message_id, request_id ORDER BY {order}"  # noqa: S608,E501
        result = con.execute(sql, [session])
        names = [d[0] for d in result.description]
        return [_row(names, values) for values in result.fetchall()]
    finally:
        con.close()
