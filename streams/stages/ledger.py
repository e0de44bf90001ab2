"""The ledger stage: observations in, usage deltas (packed per root-scope partition) out.

Per observation, the identity's (and group's) state decides what usage is new
(schemas/ledger.py: the largest counts win, only growth is emitted). Table ``ledger``: the
identity and group states, keyed like the input (schemas/accounting.py::ledger_key), so
every report of one usage meets one state. Each delta goes to ``deltas`` as
``<origin> <event JSON>`` (schemas/accounting.py::delta_line), packed per root-scope
partition; the origin (this input's partition, offset and envelope index) lets the rollup
drop a delta it already applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from schemas import envelope
from schemas.accounting import delta_line, ledger_step, origin_header
from schemas.errors import TerminalError
from schemas.pricing import CostMode, PriceTable, cost_disagrees
from schemas.unpriced import UnpricedTally, unpriced_warning
from streams.routing import Packs
from streams.stages.base import Effects, Output, Record, StateView, packed_dead_letter

DELTAS = "deltas"
MAX_WARNED_MODELS = 64
LEDGER = "ledger"


class LedgerStage:
    name = "ledger"
    input_topic = "observations"
    tables: tuple[str, ...] = (LEDGER,)

    def __init__(self, partitions: int, prices: PriceTable, cost_mode: CostMode) -> None:
        self.partitions = partitions
        self.prices = prices
        self.cost_mode: CostMode = cost_mode
        self.unpriced = UnpricedTally()  # models met unpriced by this process: one warning each

    def handle(self, batch: Sequence[Record], read: Callable[[str, bytes], bytes | None]) -> Effects:
        effects = Effects()
        state = StateView(read, effects)
        deltas = Packs(self.partitions)
        for record in batch:
            for index, data in enumerate(effects.envelopes(record, "observations")):
                self._account(effects, state, deltas, record, index, data)
        for partition, key, value, headers in deltas.records():
            effects.send(Output(DELTAS, key, value, tuple(headers), partition=partition))
        return effects

    def _account(
        self, effects: Effects, state: StateView, deltas: Packs, record: Record, index: int, data: bytes
    ) -> None:
        """One observation envelope: its state writes, and its delta if it adds usage."""

        def ledger_get(key: str) -> bytes | None:
            return state.get(LEDGER, key.encode())

        try:
            obs, context = envelope.decode(data)
            writes = ledger_step(obs, context, ledger_get, self.prices, self.cost_mode)
        except TerminalError as exc:
            effects.dead(packed_dead_letter(record, f"observation: {exc.reason}", data, index))
            return
        for key, value in writes.states.items():
            effects.write(LEDGER, key.encode(), value, record.partition)
        event = writes.event
        if event is None:
            return
        effects.events.append(event)
        if event.cost_source == "unpriced" and self.unpriced.add(event):
            # Model names come from runners: the log names the first MAX_WARNED_MODELS only.
            named = len(self.unpriced.counts)
            if named <= MAX_WARNED_MODELS:
                effects.warnings.append(unpriced_warning(event.model, self.prices))
            elif named == MAX_WARNED_MODELS + 1:
                effects.warnings.append("more models are unpriced; /metrics unpriced_events counts them")
        if cost_disagrees(obs.tokens, obs.model, obs.reported_cost_usd, self.prices, obs.event_time):
            effects.counters["cost_disagreements"] += 1
        origin = origin_header(record.partition, record.offset, index)
        deltas.add(event.root_id.encode(), delta_line(origin, event.to_json()))
