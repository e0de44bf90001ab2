"""The lake's rows of the events ``schemas.response_totals.events`` makes, without an event
object per row: what ``report --from`` keeps of a group (spendstream/parallel_parse.py).

``events`` builds and checks a ``UsageEvent`` per growth step and ``usage_table`` reads it
back field by field: ~20 us a row, most of a report's time. Here a response's ids are
checked once, by the event's own checks (``check_scope_ids``), and a step's cost is priced
in integers of 10**-12 USD, the unscaled value of the lake's DECIMAL(38, 12). Those are
exactly the amounts ``events`` computes in Decimal when

- the response is priced at base rates at every step: no long-context tier is reached (its
  prompt only grows, so its final prompt decides);
- those rates have at most 6 decimals per million tokens (9 per 1,000 searches), so each
  part ``tokens * rate / 10**6`` is a whole number of units;
- its counts are valid token counts and each part at its final counts is below 10**18
  units: no Decimal product or sum then has more than 19 significant digits (Decimal keeps
  28), so Decimal rounds nothing.

Every other response goes through ``response_events`` itself and its events' fields.
tests/unit/sinks/test_lake_rows.py compares ``rows_table`` with ``usage_table`` of the
selected events, column by column, on seeded random responses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from hashlib import sha256
from operator import sub

from schemas.pricing import ModelPrice, PricePeriod, PriceTable
from schemas.response_totals import Response, ResponseTotals, response_events, response_period
from schemas.usage import (
    MAX_TOKENS,
    SchemaError,
    UsageEvent,
    check_id,
    check_scope_ids,
)

# Money in the lake's unit, 10**-12 USD (schemas.money.USD_PLACES).
UNITS_PER_USD = 10**12
# Below this many units every Decimal step of a part is exact (module docstring).
_EXACT_UNITS = 10**18
_ZERO_MONEY = (0,) * 6


@dataclass(frozen=True)
class Selection:
    """The events a report over ``since..until`` (inclusive UTC event dates, ``YYYY-MM-DD``)
    of events labelled as ``where`` says keeps, as ``LakeCatalog`` selects rows. Pure and
    picklable (worker processes select with it)."""

    since: str | None = None
    until: str | None = None
    where: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, event: UsageEvent) -> bool:
        return self.keeps_labels(event.labels) and self.keeps_time(event.event_time)

    def keeps_labels(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.where.items())

    @property
    def every_time(self) -> bool:
        """Whether it keeps events of every date."""
        return not self.since and not self.until

    def keeps_time(self, moment: datetime) -> bool:
        if self.every_time:
            return True
        day = moment.astimezone(UTC).date().isoformat()
        return not ((self.since and day < self.since) or (self.until and day > self.until))


@dataclass
class EventRows:
    """Events as the lake's columns: one list per column, a row per event; ``source``,
    ``runner_id``, ``labels`` and the auth mode (unknown) are every row's. Costs in units
    of 10**-12 USD: ``money`` holds per row the cost, then its split in
    ``COST_PART_FIELDS``' order (None: no split). ``tokens``: per row, in ``TokenCounts``'
    order."""

    source: str
    runner_id: str
    labels: dict[str, str]
    event_id: list[str] = field(default_factory=list)
    session_id: list[str] = field(default_factory=list)
    lineage: list[tuple[str, ...]] = field(default_factory=list)
    root_id: list[str] = field(default_factory=list)
    agent_id: list[str | None] = field(default_factory=list)
    model: list[str | None] = field(default_factory=list)
    message_id: list[str | None] = field(default_factory=list)
    request_id: list[str | None] = field(default_factory=list)
    event_time: list[datetime] = field(default_factory=list)
    tokens: list[tuple[int, ...]] = field(default_factory=list)
    money: list[tuple[int | None, ...]] = field(default_factory=list)
    cost_source: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_id)

    def extend(self, other: EventRows) -> EventRows:
        """This with ``other``'s rows after its own (the same source, runner and labels)."""
        if (other.source, other.runner_id, other.labels) != (self.source, self.runner_id, self.labels):
            raise ValueError("rows of another source, runner or labels")
        for name in _ROW_COLUMNS:
            getattr(self, name).extend(getattr(other, name))
        return self

    def add_event(self, event: UsageEvent) -> None:
        """One event's row (one of ``source``, ``runner_id``, ``labels``, auth unknown)."""
        self.event_id.append(event.event_id)
        self.event_time.append(event.event_time)
        self.tokens.append(tuple(event.tokens.as_dict().values()))
        split = event.cost_split
        parts = (None,) * 5 if split is None else tuple(map(units, split.parts()))
        self.money.append((units(event.cost_usd), *parts))
        self.add_response(
            1,
            event.session_id,
            event.lineage,
            event.agent_id,
            event.model,
            event.message_id,
            event.request_id,
            event.cost_source,
        )

    def add_response(
        self,
        rows: int,
        scope: str,
        lineage: tuple[str, ...],
        agent_id: str | None,
        model: str | None,
        message_id: str | None,
        request_id: str | None,
        cost_source: str,
    ) -> None:
        """The fields the last ``rows`` rows (of one response) share, after their own."""
        self.session_id.extend([scope] * rows)
        self.lineage.extend([lineage] * rows)
        self.root_id.extend([lineage[0] if lineage else scope] * rows)
        self.agent_id.extend([agent_id] * rows)
        self.model.extend([model] * rows)
        self.message_id.extend([message_id] * rows)
        self.request_id.extend([request_id] * rows)
        self.cost_source.extend([cost_source] * rows)


_ROW_COLUMNS = tuple(f.name for f in fields(EventRows) if f.name not in ("source", "runner_id", "labels"))


def units(amount: Decimal) -> int:
    """``amount`` (at most 12 places, as every event's) in units of 10**-12 USD, exactly."""
    numerator, denominator = amount.as_integer_ratio()
    whole, rest = divmod(numerator * UNITS_PER_USD, denominator)
    if rest:
        raise ValueError(f"{amount} has more than 12 decimal places")
    return whole


def integer_responses(
    totals: ResponseTotals,
    prices: PriceTable,
    *,
    source: str,
    runner_id: str,
    labels: Mapping[str, str],
    selection: Selection,
    add_event: Callable[[UsageEvent], None],
    declines: Callable[[Response], bool] | None = None,
) -> Iterator[tuple[str, Response, PricePlan]]:
    """The responses of ``totals`` that grew and that the integer route prices (the module
    docstring's conditions, and not ``declines``), in order, each with its price plan; every
    other response's events that ``selection`` keeps go to ``add_event`` in their place (the
    Decimal route). The checks every event would make come first: the source and runner
    once, and for the integer route its scope's ids (once per scope) and its message and
    request ids (the Decimal route's events check themselves)."""
    plans: dict[tuple[str | None, date], PricePlan] = {}
    scopes_checked: set[tuple[str, tuple[str, ...], str | None, str | None]] = set()
    checked = False
    for identity, response in totals.responses.items():
        steps = response.steps
        if not steps:
            continue
        if not checked:
            check_id("source", source)
            check_id("runner_id", runner_id)
            checked = True
        scope, lineage, agent_id, model, _group, message_id, request_id, day = response.compat
        plan = plans.get((model, day))
        if plan is None:
            plan = plans[(model, day)] = price_plan(response_period(prices, response, {}))
        final = steps[-1][0]
        integer = not (
            plan.rates is None
            or max(final) > plan.count_limit
            or min(steps[0][0]) < 0
            or (message_id is not None and final[0] + final[3] + final[4] + final[5] > plan.prompt_limit)
            or (declines is not None and declines(response))
        )
        if not integer:
            for event in response_events(
                identity, response, plan.period, source=source, runner_id=runner_id, labels=labels
            ):
                if selection(event):
                    add_event(event)
            continue
        if (scope, lineage, agent_id, model) not in scopes_checked:
            check_scope_ids(scope, lineage, agent_id, model, None, None)
            scopes_checked.add((scope, lineage, agent_id, model))
        if message_id is not None:
            check_id("message_id", message_id)
        if request_id is not None:
            check_id("request_id", request_id)
        yield identity, response, plan


def event_rows(
    totals: ResponseTotals,
    prices: PriceTable,
    *,
    source: str,
    runner_id: str,
    labels: Mapping[str, str],
    selection: Selection,
) -> EventRows:
    """The rows of the events ``events(totals, prices, ...)`` gives that ``selection`` keeps,
    in its order; raises what it would raise (a ``SchemaError`` of the first bad event)."""
    rows = EventRows(source, runner_id, dict(labels))
    keeps_labels, every_time = selection.keeps_labels(labels), selection.every_time
    add_id, add_time, add_tokens, add_money = (
        rows.event_id.append,
        rows.event_time.append,
        rows.tokens.append,
        rows.money.append,
    )
    for identity, response, plan in integer_responses(
        totals,
        prices,
        source=source,
        runner_id=runner_id,
        labels=labels,
        selection=selection,
        add_event=rows.add_event,
    ):
        assert plan.rates is not None and response.steps is not None
        scope, lineage, agent_id, model, _group, message_id, request_id, _day = response.compat
        r_in, r_out, r_read, r_5m, r_1h, r_search = plan.rates
        before: tuple[int, ...] = _ZERO_TOKENS
        kept = 0
        head = f"local\x1f{identity}\x1f"
        for index, (after, moment) in enumerate(response.steps):
            if moment.tzinfo is None:
                raise SchemaError("event_time must be timezone-aware")
            grown = tuple(map(sub, after, before)) if index else after
            before = after
            if not keeps_labels or not (every_time or selection.keeps_time(moment)):
                continue
            kept += 1
            add_id(sha256((head + str(index)).encode()).hexdigest()[:32])
            add_time(moment)
            add_tokens(grown)
            inp = grown[0] * r_in + grown[6] * r_search
            out = grown[1] * r_out
            read = grown[3] * r_read
            write_5m = grown[4] * r_5m
            write_1h = grown[5] * r_1h
            add_money((inp + out + read + write_5m + write_1h, inp, out, read, write_5m, write_1h))
        if kept:
            rows.add_response(kept, scope, lineage, agent_id, model, message_id, request_id, plan.cost_source)
    return rows


_ZERO_TOKENS = (0,) * 7
# The unit rates of an unpriced response: no cost.
_NO_RATES = (0,) * 6


@dataclass(frozen=True)
class PricePlan:
    """How the responses of one model on one day are priced: ``period`` (None: unpriced);
    ``rates``, its base rates in units (None: not whole units, so through Decimal); and
    the final counts up to which the integer route prices a response exactly: no count
    above ``count_limit`` (no part reaches 10**18 units, every count is valid) and, with
    a message id, a prompt of at most ``prompt_limit`` (no long-context tier)."""

    period: PricePeriod | None
    rates: tuple[int, ...] | None
    count_limit: int
    prompt_limit: int | float
    cost_source: str


def price_plan(period: PricePeriod | None) -> PricePlan:
    if period is None:
        return PricePlan(None, _NO_RATES, MAX_TOKENS, math.inf, "unpriced")
    rates = _price_units(period.price)
    # Each part is at most two products of a count and a rate (input: tokens and searches).
    count_limit = MAX_TOKENS if not rates else min(MAX_TOKENS, (_EXACT_UNITS - 1) // (2 * max(max(rates), 1)))
    prompt_limit = min((tier.above for tier in period.tiers), default=math.inf)
    return PricePlan(period, rates, count_limit, prompt_limit, "computed")


def _price_units(price: ModelPrice) -> tuple[int, ...] | None:
    """``price`` in units per token (per search), or None when a rate is not a whole number
    of them (more than 6 decimals per million tokens, 9 per 1,000 searches) or negative."""
    rates = []
    for rate, per in (
        (price.input, 10**6),
        (price.output, 10**6),
        (price.cache_read, 10**6),
        (price.cache_write_5m, 10**6),
        (price.cache_write_1h, 10**6),
        (price.web_search_per_1k, 10**3),
    ):
        if not rate.is_finite():
            return None
        numerator, denominator = rate.as_integer_ratio()
        whole, rest = divmod(numerator * UNITS_PER_USD, denominator * per)
        if rest or whole < 0:
            return None
        rates.append(whole)
    return tuple(rates)
