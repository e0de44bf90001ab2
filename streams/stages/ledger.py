"""The ledger stage: observations in, usage deltas (packed per root-scope partition) out.

Per observation, the identity's (and group's) state decides what usage is new
(schemas/ledger.py: the largest counts win, only growth is emitted). Table ``ledger``: the
identity and group states, keyed like the input (schemas/accounting.py::ledger_key), so
every report of one usage meets one state. Each delta goes to ``deltas`` as
``<origin> <event JSON>`` (schemas/accounting.py::delta_line), packed per root-scope
partition; the origin (this input's partition, offset and envelope index) lets the rollup
drop a delta it already applied.

State is batch-level: a key's value is decoded once (and kept decoded between batches,
like the rollup's), every observation of the batch meets the latest value, and the value
is encoded once per key per batch, when the batch's writes are made. The same states as
``schemas.accounting.ledger_step`` writes per observation, without its decode and encode
per observation (a session's group key is met by every one of its messages).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from schemas import envelope, ledger
from schemas.accounting import delta_line, origin_header
from schemas.decoded_events import DecodedEvents
from schemas.errors import TerminalError
from schemas.ledger_groups import GroupState
from schemas.pricing import CostMode, PriceTable, cost_disagrees
from schemas.unpriced import UnpricedTally, unpriced_warning
from streams.routing import Packs
from streams.stages.base import Effects, Output, Record, StateView, packed_dead_letter

DELTAS = "deltas"
MAX_WARNED_MODELS = 64
LEDGER = "ledger"
# Decoded ledger states kept between batches (a session's group key is read every batch).
DECODED_CACHE_KEYS = 50_000


class BatchStates:
    """One batch's view of the ledger table: decoded values, the latest first, and the keys
    written (each encoded once, by :meth:`write_to`)."""

    def __init__(self, state: StateView, decoded: dict[bytes, tuple[bytes, Any]]) -> None:
        self._state = state
        self._decoded = decoded  # the stage's cache: key -> (stored bytes, decoded value)
        self._latest: dict[bytes, Any] = {}
        self._written: dict[bytes, int] = {}  # key -> input partition

    def get(self, key: bytes, decode: Callable[[bytes], Any]) -> Any:
        """The key's value (None when it has none); a value that does not decode raises."""
        if key in self._latest:
            return self._latest[key]
        data = self._state.get(LEDGER, key)
        if data is None:
            return None
        hit = self._decoded.get(key)
        if hit is not None and (hit[0] is data or hit[0] == data):
            return hit[1]
        value = decode(data)
        self._remember(key, data, value)
        return value

    def put(self, key: bytes, value: Any, partition: int) -> None:
        self._latest[key] = value
        self._written[key] = partition

    def write_to(self, effects: Effects) -> None:
        for key, partition in self._written.items():
            value = self._latest[key]
            data = value.to_json()
            effects.write(LEDGER, key, data, partition)
            self._remember(key, data, value)

    def _remember(self, key: bytes, data: bytes, value: Any) -> None:
        if len(self._decoded) >= DECODED_CACHE_KEYS and key not in self._decoded:
            self._decoded.clear()
        self._decoded[key] = (data, value)


class LedgerStage:
    name = "ledger"
    input_topic = "observations"
    tables: tuple[str, ...] = (LEDGER,)

    def __init__(
        self, partitions: int, prices: PriceTable, cost_mode: CostMode, decoded: DecodedEvents | None = None
    ) -> None:
        self.partitions = partitions
        # Its events by their JSON, for the rollup of this process (schemas/decoded_events.py).
        self.decoded = decoded
        self.prices = prices
        self.cost_mode: CostMode = cost_mode
        self.unpriced = UnpricedTally()  # models met unpriced by this process: one warning each
        self._decoded: dict[bytes, tuple[bytes, Any]] = {}

    def handle(self, batch: Sequence[Record], read: Callable[[str, bytes], bytes | None]) -> Effects:
        effects = Effects()
        states = BatchStates(StateView(read, effects), self._decoded)
        deltas = Packs(self.partitions)
        for record in batch:
            for index, data in enumerate(effects.envelopes(record, "observations")):
                self._account(effects, states, deltas, record, index, data)
        states.write_to(effects)
        for partition, key, value, headers in deltas.records():
            effects.send(Output(DELTAS, key, value, tuple(headers), partition=partition))
        return effects

    def _account(
        self, effects: Effects, states: BatchStates, deltas: Packs, record: Record, index: int, data: bytes
    ) -> None:
        """One observation envelope: its state changes, and its delta if it adds usage."""
        try:
            obs, context = envelope.decode(data)
            identity_key = ledger.identity_key(obs).encode()
            group_name = ledger.group_key(obs)
            group_key = group_name.encode() if group_name is not None else None
            step = ledger.apply(
                obs,
                context,
                states.get(identity_key, ledger.IdentityState.from_json),
                states.get(group_key, GroupState.from_json) if group_key is not None else None,
                prices=self.prices,
                mode=self.cost_mode,
            )
        except TerminalError as exc:
            effects.dead(packed_dead_letter(record, f"observation: {exc.reason}", data, index))
            return
        states.put(identity_key, step.identity_state, record.partition)
        if group_key is not None and step.group_state is not None:
            states.put(group_key, step.group_state, record.partition)
        event = step.event
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
        body = event.to_json()
        deltas.add(event.root_id.encode(), delta_line(origin, body))
        if self.decoded is not None:
            self.decoded.put_encoded(body, event)
