"""Per-scope totals of per-response observations, without an event per line (``parse``'s
fast path). Pure.

The ledger (schemas/ledger.py) emits one event per observation that grows its identity.
When every observation of a batch is a part of a group (no reported totals, no reported
cost) the ledger's result has a closed form, and this module computes it directly:

- an identity counts the field-wise maximum of its observations (the ledger's merge);
- a group of parts counts the sum of its identities (schemas/ledger_groups.py with no
  totals), so each identity's growth is the scope's growth;
- the cost of an identity, summed over its events, is the price of its final counts at its
  tier (``cost_growth``: base-rate deltas telescope, a long-context tier is priced on the
  whole identity, and the counts only grow); exactly, as long as every rate has at most 6
  decimals per million tokens (9 per thousand searches), so no delta was rounded;
- its events are the observations that grew it, at their event times.

Exactly the ledger's per-scope tokens, cost, event count, models, cost sources and first
and last event times, under these conditions, checked per observation: each identity's
observations agree on everything but counts and time of day (scope, lineage, agent, model,
group, response ids, UTC date), none reports a cost or a group total, a group names at most
``MAX_GROUP_MODELS`` models, sums stay well inside the counter range, and the cost mode
prices from tokens. When one fails, :attr:`ResponseTotals.not_simple` says why, and the
caller runs the same input through the ledger instead (spendstream/parallel_parse.py).
tests/unit/schemas/test_response_totals.py compares both on random observation sequences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import add, sub

from schemas.attribution import split_cost
from schemas.money import ZERO_USD
from schemas.pricing import CostMode, ModelPrice, PricePeriod, PriceTable
from schemas.sources.base import Observation
from schemas.sources.claude_run import run_group
from schemas.sources.claude_transcript import PlainResponse
from schemas.usage import UNKNOWN_AUTH, CostSource, CostSplit, TokenCounts, UsageEvent, event_id_for

# schemas/ledger_groups.py refuses a group naming more models than this.
MAX_GROUP_MODELS = 16
# Far inside the counter range (10**15): a sum this large goes through the ledger's checks.
SAFE_SUM = 10**14
BEYOND_BOUNDS = "a group beyond the fast rule's bounds"
INEXACT_PRICE = "a price with more digits than exact deltas keep"
_MILLIONTH = Decimal("0.000001")
_NO_SPLIT = CostSplit()
_BILLIONTH = Decimal("0.000000001")

# (scope, lineage, agent_id, model, group, message_id, request_id, UTC date)
Compat = tuple[str, tuple[str, ...], str | None, str | None, str | None, str | None, str | None, date]


@dataclass
class ScopeSums:
    """What the ledger's events of one scope add up to."""

    lineage: tuple[str, ...] = ()
    counts: list[int] = field(default_factory=lambda: [0] * 7)
    cost: Decimal = ZERO_USD
    events: int = 0
    models: set[str] = field(default_factory=set)
    cost_sources: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None

    @property
    def tokens(self) -> TokenCounts:
        return TokenCounts(*self.counts)


@dataclass
class Response:
    compat: Compat
    counts: tuple[int, ...]
    first: datetime | None
    last: datetime | None
    events: int
    # With ``keep_steps``: the counts after each observation that grew it, and its time.
    steps: list[tuple[tuple[int, ...], datetime]] | None = None


class ResponseTotals:
    """Accumulates one-response observations; :meth:`finish` gives the per-scope sums and,
    with ``keep_steps``, :meth:`events` the ledger's events themselves (for reports)."""

    def __init__(self, *, keep_steps: bool = False) -> None:
        self.responses: dict[str, Response] = {}
        self.not_simple: str | None = None
        self.keep_steps = keep_steps

    def add_plain(self, plain: PlainResponse) -> None:
        identity, scope, lineage, agent_id, session_id, model, message_id, request_id, moment, counts = plain
        compat = (
            scope,
            lineage,
            agent_id,
            model,
            run_group(session_id),
            message_id,
            request_id,
            moment.date(),
        )
        self._add(identity, compat, counts, moment)

    def add_observation(self, obs: Observation) -> None:
        if obs.reported_cost_usd is not None or obs.is_group_total:
            self.not_simple = "a reported cost or run total"
            return
        # The worker's classification settles every observation's auth mode, "unknown" when
        # nothing says (schemas/normalize.py::settle_auth): that names no billing, and the
        # per-scope sums do not depend on it.
        if obs.source is not None or obs.auth_mode not in (None, UNKNOWN_AUTH):
            self.not_simple = "an observation naming its source or billing"
            return
        compat = (
            obs.session_id,
            obs.lineage,
            obs.agent_id,
            obs.model,
            obs.group,
            obs.message_id,
            obs.request_id,
            obs.event_time.astimezone(UTC).date(),
        )
        self._add(obs.identity, compat, tuple(obs.tokens.as_dict().values()), obs.event_time)

    def _add(self, identity: str, compat: Compat, counts: tuple[int, ...], moment: datetime) -> None:
        response = self.responses.get(identity)
        if response is None:
            grew = any(counts)
            self.responses[identity] = Response(
                compat, counts, moment if grew else None, moment if grew else None, int(grew)
            )
            if self.keep_steps:
                self.responses[identity].steps = [(counts, moment)] if grew else []
            return
        if response.compat != compat:
            self.not_simple = "one response seen with different scopes, models, ids or dates"
            return
        old = response.counts
        if counts == old:
            return
        merged = tuple(map(max, old, counts))
        if merged == old:
            return
        response.counts = merged
        response.events += 1
        if response.steps is not None:
            response.steps.append((merged, moment))
        if response.first is None or moment < response.first:
            response.first = moment
        if response.last is None or moment > response.last:
            response.last = moment

    def check(self, prices: PriceTable, mode: CostMode) -> None:
        """:meth:`finish`'s conditions without its sums: sets :attr:`not_simple` as
        :meth:`finish` would (the same reason), for a caller that takes the responses
        themselves and not the per-scope sums (``report --from``'s rows, sinks/lake_rows.py).
        tests/unit/schemas/test_response_totals.py holds the two to the same answer."""
        if mode == "reported-only":
            self.not_simple = "cost mode reported-only"
            return
        if self.not_simple is not None:
            return
        groups = _GroupBounds()
        periods: dict[tuple[str | None, date], PricePeriod | None] = {}
        used: dict[int, ModelPrice] = {}
        for response in self.responses.values():
            _scope, _lineage, _agent, model, group, message_id, _request, day = response.compat
            counts = response.counts
            groups.add(group, model, counts)
            if response.events == 0:
                continue
            period = _period(prices, model, day, periods)
            if period is not None:
                price = _response_price(period, message_id, counts)
                used[id(price)] = price
        if groups.beyond():
            self.not_simple = BEYOND_BOUNDS
            return
        for price in used.values():
            if not _exact_rates(price):
                self.not_simple = INEXACT_PRICE
                return

    def finish(self, prices: PriceTable, mode: CostMode) -> tuple[dict[str, ScopeSums], Counter[str | None]]:
        """Per-scope sums and unpriced events per model. Sets :attr:`not_simple` (and the
        result must then be discarded) when a condition of the module's rule fails.

        Costs are linear in the counts and exact (``_exact_rates``), so each scope's cost is
        the price of its summed counts per price, computed once per (scope, price)."""
        scopes: dict[str, ScopeSums] = {}
        unpriced: Counter[str | None] = Counter()
        if mode == "reported-only":
            self.not_simple = "cost mode reported-only"
            return {}, unpriced
        if self.not_simple is not None:
            return {}, unpriced
        groups = _GroupBounds()
        periods: dict[tuple[str | None, date], PricePeriod | None] = {}
        priced: dict[tuple[str, int], tuple[ModelPrice, list[int]]] = {}
        for response in self.responses.values():
            scope_id, lineage, _agent, model, group, message_id, _request, day = response.compat
            counts = response.counts
            groups.add(group, model, counts)
            if response.events == 0:
                continue
            period = _period(prices, model, day, periods)
            scope = scopes.get(scope_id)
            if scope is None:
                scope = scopes[scope_id] = ScopeSums()
            if period is None:
                unpriced[model] += response.events
                scope.cost_sources.add("unpriced")
            else:
                price = _response_price(period, message_id, counts)
                slot = priced.get((scope_id, id(price)))
                if slot is None:
                    priced[(scope_id, id(price))] = (price, list(counts))
                else:
                    slot[1][:] = map(add, slot[1], counts)
                scope.cost_sources.add("computed")
            scope.lineage = lineage
            scope.counts[:] = map(add, scope.counts, counts)
            scope.events += response.events
            if model:
                scope.models.add(model)
            assert response.first is not None and response.last is not None
            if scope.first is None or response.first < scope.first:
                scope.first = response.first
            if scope.last is None or response.last > scope.last:
                scope.last = response.last
        if groups.beyond():
            self.not_simple = BEYOND_BOUNDS
            return {}, unpriced
        exact: dict[int, bool] = {}
        for (scope_id, _), (price, summed) in priced.items():
            if not exact.setdefault(id(price), _exact_rates(price)):
                self.not_simple = INEXACT_PRICE
                return {}, unpriced
            scopes[scope_id].cost += price.cost(TokenCounts(*summed))
        return scopes, unpriced


class _GroupBounds:
    """Per ledger group, the models it names and its summed counts: within the fast rule's
    bounds or not (counts are never negative, so a group beyond them at the end was beyond
    them from the response that crossed them on)."""

    __slots__ = ("models", "sums")

    def __init__(self) -> None:
        self.models: dict[str | None, set[str | None]] = {}
        self.sums: dict[str | None, list[int]] = {}

    def add(self, group: str | None, model: str | None, counts: tuple[int, ...]) -> None:
        models = self.models.get(group)
        if models is None:
            self.models[group] = {model}
            self.sums[group] = list(counts)
        else:
            models.add(model)
            sums = self.sums[group]
            sums[:] = map(add, sums, counts)

    def beyond(self) -> bool:
        return any(
            len(models) > MAX_GROUP_MODELS or max(self.sums[group]) > SAFE_SUM
            for group, models in self.models.items()
        )


def _response_price(period: PricePeriod, message_id: str | None, counts: tuple[int, ...]) -> ModelPrice:
    """The rates of one response: its prompt's tier when it is one API response."""
    prompt = None if message_id is None else counts[0] + counts[3] + counts[4] + counts[5]
    return period.price_for(prompt)


def _period(
    prices: PriceTable,
    model: str | None,
    day: date,
    cache: dict[tuple[str | None, date], PricePeriod | None],
) -> PricePeriod | None:
    """The prices of ``model`` in force on ``day`` (None: unpriced), looked up once per pair."""
    key = (model, day)
    if key not in cache:
        history = prices.history(model)
        cache[key] = None if history is None else history.period_at(day)
    return cache[key]


def _exact_rates(price: ModelPrice) -> bool:
    """True when ``price`` turns any whole token counts into a cost with no rounding."""
    rates = (price.input, price.output, price.cache_read, price.cache_write_5m, price.cache_write_1h)
    return all(rate == rate.quantize(_MILLIONTH) for rate in rates) and (
        price.web_search_per_1k == price.web_search_per_1k.quantize(_BILLIONTH)
    )


def events(
    totals: ResponseTotals,
    prices: PriceTable,
    *,
    source: str,
    runner_id: str,
    labels: Mapping[str, str],
) -> Iterator[UsageEvent]:
    """The events the ledger emits for ``totals``' observations (``keep_steps``, and
    ``not_simple`` None after :meth:`ResponseTotals.check` or ``finish``): one per observation that grew
    its identity, of the growth, priced as ``schemas.ledger.cost_growth`` prices it (base
    rates on the growth, a long-context tier on the whole identity less what was counted)
    and split as the ledger splits it. Event ids are derived from the identity and the
    step, not the worker's (those depend on the group's state, i.e. the arrival order)."""
    periods: dict[tuple[str | None, date], PricePeriod | None] = {}
    for identity, response in totals.responses.items():
        period = response_period(prices, response, periods)
        yield from response_events(
            identity, response, period, source=source, runner_id=runner_id, labels=labels
        )


def response_period(
    prices: PriceTable, response: Response, cache: dict[tuple[str | None, date], PricePeriod | None]
) -> PricePeriod | None:
    """The prices ``response`` is priced at (None: unpriced), looked up once per model and day."""
    return _period(prices, response.compat[3], response.compat[7], cache)


def response_events(
    identity: str,
    response: Response,
    period: PricePeriod | None,
    *,
    source: str,
    runner_id: str,
    labels: Mapping[str, str],
) -> Iterator[UsageEvent]:
    """:func:`events` of one response, priced at ``period``."""
    scope, lineage, agent_id, model, _group, message_id, request_id, _day = response.compat
    before: tuple[int, ...] = (0,) * 7
    counted = ZERO_USD
    for index, (after, moment) in enumerate(response.steps or ()):
        grown = TokenCounts(*map(sub, after, before))
        cost_source: CostSource = "unpriced"
        cost = ZERO_USD
        split = _NO_SPLIT
        if period is not None:
            prompt = None if message_id is None else after[0] + after[3] + after[4] + after[5]
            base, price = period.price_for(None), period.price_for(prompt)
            if price is not base:
                cost = max(price.cost(TokenCounts(*after)) - counted, ZERO_USD)
                split = split_cost(grown, cost, price)
            else:
                # base.cost(grown), split by token type: with exact rates (finish checks
                # them) the parts are exact and sum to it, so split_cost keeps them.
                split = base.cost_split(grown)
                cost = split.total
            cost_source = "computed"
        counted += cost
        before = after
        yield UsageEvent(
            event_id=event_id_for("local", identity, str(index)),
            source=source,
            runner_id=runner_id,
            session_id=scope,
            lineage=lineage,
            agent_id=agent_id,
            model=model,
            event_time=moment,
            tokens=grown,
            cost_usd=cost,
            cost_source=cost_source,
            auth_mode=UNKNOWN_AUTH,
            labels=labels,
            message_id=message_id,
            request_id=request_id,
            cost_split=split,
        )
