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

from schemas.money import usd_str
from schemas.usage import TOKEN_FIELDS
from sinks.catalog import COST_SPLIT_COLUMNS, COST_SPLIT_SUMS, connect

GROUPS = {"day": "date", "model": "model", "session": "session_id"}
# Cost-split columns of a row (with ``unsplit_cost_usd``, they add up to ``cost_usd``).
SPLIT_COLUMNS = COST_SPLIT_COLUMNS


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


def _sums() -> list[str]:
    """Token sums, cost, its split (with ``unsplit_cost_usd`` for rows older than the split:
    sinks/catalog.py) so the parts always add up to the cost, events and cost sources."""
    sums = [f"sum({name}) AS {name}" for name in TOKEN_FIELDS]
    sums += ["sum(cost_usd) AS cost_usd", COST_SPLIT_SUMS]
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
        select, filters = ", ".join([*keys, *_sums()]), " AND ".join(where)
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
        # One row per response (a transcript line has a requestId, a stream-json line of the
        # same response none); column names from the schema only; the session is a parameter.
        heads = ["message_id", "max(request_id) AS request_id", "any_value(model) AS model"]
        select = ", ".join([*heads, "min(event_time) AS first_event", *_sums()])
        order = "first_event, message_id NULLS LAST"
        sql = f"SELECT {select} FROM usage WHERE session_id = ? GROUP BY message_id ORDER BY {order}"  # noqa: S608
        result = con.execute(sql, [session])
        names = [d[0] for d in result.description]
        return [_row(names, values) for values in result.fetchall()]
    finally:
        con.close()
