"""Rows of the lake's usage schema that each stand for several events: what ``report --from``
keeps of the files it reads (spendstream/parallel_parse.py), one row per set of events that
no report tells apart.

A report's SQL (``sinks/reports.py``, the views of ``sinks/catalog.py``) groups events by
their columns and reads them only through ``count(*)``, ``sum``, ``min``/``max`` of
``event_time`` and the distinct values of grouped columns; none reads an event's id, and
only ``messages`` reads its response ids. So the events that share every other column and
their UTC date can be one row: how many they are (``event_rows``), their token and cost
sums, their first and last times (``event_time``, ``last_event_time``); its ``event_id``
is NULL. The catalog runs each report's SQL over such rows with ``count(*)`` read as
``sum(event_rows)`` and ``max(event_time)`` as ``max(last_event_time)``
(``create_views(summed=True)``). Every group of a report is a union of such rows' sets,
and every aggregate it takes adds up over them, so the report is the one of the events
themselves (tests/unit/sinks/test_summed_rows.py compares every kind).

Grains (``Summing.grain``): ``response`` keeps the message and request ids in the key (the
``messages`` report); ``scope`` leaves them out, so a session of one model and day is one
row: 682 sessions of 100 responses each are about 700 rows, not 127,534.

Money is summed in integers of 10**-12 USD (the unscaled values of the lake's
DECIMAL(38, 12)): exact. A transcript response that sinks/lake_rows.py prices in integers
(whole-unit base rates, no long-context tier) is summed without walking its steps: its
deltas add up to its final counts and each cost part is linear in them, so its events'
costs add up to the price of its final counts. Any other response, and every event of the
exact route, is summed event by event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import add
from typing import TYPE_CHECKING, Literal

from schemas.pricing import PriceTable
from schemas.response_totals import Response, ResponseTotals
from schemas.usage import (
    COST_PART_FIELDS,
    SCHEMA_VERSION,
    TOKEN_FIELDS,
    UNKNOWN_AUTH,
    SchemaError,
    UsageEvent,
)
from sinks.lake_rows import PricePlan, Selection, integer_responses, units

if TYPE_CHECKING:
    import pyarrow as pa

Grain = Literal["response", "scope"]
GRAINS: tuple[str, ...] = ("response", "scope")

# (source, runner_id, labels (sorted items), auth_mode, session_id, lineage, agent_id, model,
#  message_id, request_id, cost_source, UTC date, whether the costs have a split)
Key = tuple[
    str,
    str,
    tuple[tuple[str, str], ...],
    str | None,
    str,
    tuple[str, ...],
    str | None,
    str | None,
    str | None,
    str | None,
    str,
    date,
    bool,
]
# A row's key within one call of ``summed_rows``: (session_id, lineage, agent_id, model,
#  message_id, request_id, UTC date); the model and date name the prices (one plan).
Slot = tuple[str, tuple[str, ...], str | None, str | None, str | None, str | None, date]
# [events, first time, last time, token sums (TOKEN_FIELDS' order), money sums in units
#  (cost, then COST_PART_FIELDS' order; 0 where there is no split)]
Sums = list


@dataclass(frozen=True)
class Summing:
    """What a summed lake keeps: the events ``selection`` keeps, summed at ``grain``. Pure
    and picklable (worker processes sum with it); called, it selects as ``selection``."""

    selection: Selection
    grain: Grain = "scope"

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise ValueError(f"unknown grain {self.grain!r}; one of {', '.join(GRAINS)}")

    def __call__(self, event: UsageEvent) -> bool:
        return self.selection(event)

    @property
    def per_response(self) -> bool:
        return self.grain == "response"


class SummedRows:
    """Events summed per key (the module says which); :meth:`table` gives the rows."""

    def __init__(self, grain: Grain) -> None:
        self.per_response = grain == "response"
        self.groups: dict[Key, Sums] = {}
        self.events = 0

    def __len__(self) -> int:
        return len(self.groups)

    def add(
        self,
        key: Key,
        events: int,
        first: datetime,
        last: datetime,
        tokens: list[int] | tuple[int, ...],
        money: list[int] | tuple[int, ...],
    ) -> None:
        self.events += events
        sums = self.groups.get(key)
        if sums is None:
            self.groups[key] = [events, first, last, list(tokens), list(money)]
            return
        sums[0] += events
        if first < sums[1]:
            sums[1] = first
        if last > sums[2]:
            sums[2] = last
        sums[3][:] = map(add, sums[3], tokens)
        sums[4][:] = map(add, sums[4], money)

    def add_event(self, event: UsageEvent) -> None:
        split = event.cost_split
        money = (units(event.cost_usd), *(_NO_PARTS if split is None else map(units, split.parts())))
        moment = event.event_time
        key: Key = (
            event.source,
            event.runner_id,
            tuple(sorted(event.labels.items())),
            event.auth_mode,
            event.session_id,
            event.lineage,
            event.agent_id,
            event.model,
            event.message_id if self.per_response else None,
            event.request_id if self.per_response else None,
            event.cost_source,
            moment.astimezone(UTC).date(),
            split is not None,
        )
        self.add(key, 1, moment, moment, tuple(event.tokens.as_dict().values()), money)

    def extend(self, other: SummedRows) -> SummedRows:
        """This with ``other``'s sums added (of the same grain)."""
        if other.per_response != self.per_response:
            raise ValueError("rows of another grain")
        for key, (events, first, last, tokens, money) in other.groups.items():
            self.add(key, events, first, last, tokens, money)
        return self

    def table(self) -> pa.Table:
        """The rows, of ``sinks.lake.SUMMED_SCHEMA``: ``kafka_partition`` 0, ``kafka_offset``
        0, 1, ... (pyarrow is imported here: `report --from`'s workers sum without it and the
        process that reports makes the one table)."""
        import pyarrow as pa

        from sinks.lake import SUMMED_SCHEMA, money_array

        pool = pa.system_memory_pool()  # as sinks.lake.rows_table says
        keys = list(self.groups)
        sums = list(self.groups.values())
        count = len(keys)
        columns: dict[str, object] = {
            "schema_version": [SCHEMA_VERSION] * count,
            "event_id": [None] * count,
            "source": [k[0] for k in keys],
            "runner_id": [k[1] for k in keys],
            "session_id": [k[4] for k in keys],
            "lineage": [k[5] for k in keys],
            "root_id": [k[5][0] if k[5] else k[4] for k in keys],
            "agent_id": [k[6] for k in keys],
            "model": [k[7] for k in keys],
            "message_id": [k[8] for k in keys],
            "request_id": [k[9] for k in keys],
            "event_time": [s[1] for s in sums],
        }
        for index, name in enumerate(TOKEN_FIELDS):
            columns[name] = [s[3][index] for s in sums]
        columns["cost_usd"] = money_array([s[4][0] for s in sums], pool)
        for index, name in enumerate(COST_PART_FIELDS, start=1):
            columns[name] = money_array(
                [s[4][index] if k[12] else None for k, s in zip(keys, sums, strict=True)], pool
            )
        columns["cost_source"] = [k[10] for k in keys]
        columns["auth_mode"] = [k[3] for k in keys]
        columns["labels"] = [list(k[2]) for k in keys]
        columns["kafka_partition"] = [0] * count
        columns["kafka_offset"] = range(count)
        columns["event_rows"] = [s[0] for s in sums]
        columns["last_event_time"] = [s[2] for s in sums]
        arrays = [
            value if isinstance(value, pa.Array) else pa.array(value, field.type, memory_pool=pool)
            for field, value in ((field, columns[field.name]) for field in SUMMED_SCHEMA)
        ]
        return pa.Table.from_arrays(arrays, schema=SUMMED_SCHEMA)


_NO_PARTS = (0,) * len(COST_PART_FIELDS)


def _not_one_utc_day(response: Response) -> bool:
    """Whether a response's steps may lie on more than its UTC day (then summed event by
    event): its first and last times are not both in UTC on the day it is priced at."""
    first, last, day = response.first, response.last, response.compat[7]
    return (
        first is None
        or last is None
        or first.tzinfo is not UTC
        or last.tzinfo is not UTC
        or first.date() != day
        or last.date() != day
    )


def summed_rows(
    totals: ResponseTotals,
    prices: PriceTable,
    *,
    source: str,
    runner_id: str,
    labels: Mapping[str, str],
    summing: Summing,
) -> SummedRows:
    """The events ``events(totals, prices, ...)`` gives that ``summing`` keeps, summed at its
    grain; raises what sinks/lake_rows.py's ``event_rows`` raises (the same checks, in the
    same order of responses)."""
    rows = SummedRows(summing.grain)
    selection = summing.selection
    per_response = summing.per_response
    keeps_labels, every_time = selection.keeps_labels(labels), selection.every_time
    # Sums per (scope, lineage, agent, model, [message, request,] UTC date): the rest of a
    # row's key is the call's; the model and date name the plan.
    slots: dict[Slot, Sums] = {}
    plans: dict[tuple[str | None, date], PricePlan] = {}
    for _identity, response, plan in integer_responses(
        totals,
        prices,
        source=source,
        runner_id=runner_id,
        labels=labels,
        selection=selection,
        add_event=rows.add_event,
        declines=_not_one_utc_day,
    ):
        steps, first, last = response.steps, response.first, response.last
        assert steps and first is not None and last is not None  # it grew
        scope, lineage, agent_id, model, _group, message_id, request_id, day = response.compat
        plans[(model, day)] = plan
        final = steps[-1][0]
        for _, moment in steps:
            if moment.tzinfo is None:
                raise SchemaError("event_time must be timezone-aware")
        # Every step is between the first and the last, so on their UTC day: one choice.
        if not keeps_labels or not (every_time or selection.keeps_time(first)):
            continue
        # The costs are linear in the counts at one plan's rates: priced per slot, at the end.
        slot: Slot = (
            (scope, lineage, agent_id, model, message_id, request_id, day)
            if per_response
            else (scope, lineage, agent_id, model, None, None, day)
        )
        sums = slots.get(slot)
        if sums is None:
            slots[slot] = [len(steps), first, last, list(final)]
            continue
        sums[0] += len(steps)
        if first < sums[1]:
            sums[1] = first
        if last > sums[2]:
            sums[2] = last
        sums[3][:] = map(add, sums[3], final)
    labels_key = tuple(sorted(labels.items()))
    for (scope, lineage, agent_id, model, message_id, request_id, day), (
        events,
        first,
        last,
        counts,
    ) in slots.items():
        plan = plans[(model, day)]
        assert plan.rates is not None
        r_in, r_out, r_read, r_5m, r_1h, r_search = plan.rates
        inp = counts[0] * r_in + counts[6] * r_search
        out = counts[1] * r_out
        read = counts[3] * r_read
        write_5m = counts[4] * r_5m
        write_1h = counts[5] * r_1h
        key: Key = (
            source,
            runner_id,
            labels_key,
            UNKNOWN_AUTH,
            scope,
            lineage,
            agent_id,
            model,
            message_id,
            request_id,
            plan.cost_source,
            day,
            True,
        )
        rows.add(
            key,
            events,
            first,
            last,
            counts,
            (inp + out + read + write_5m + write_1h, inp, out, read, write_5m, write_1h),
        )
    return rows
