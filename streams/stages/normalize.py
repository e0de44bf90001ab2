"""The normalize stage: raw CLI lines in, observations (packed per ledger partition) out.

Every raw line gets exactly one outcome (schemas/normalize.py): ``usage``, ``no_usage``,
``duplicate`` (at or below its stream's high-water position) or ``dead`` (to the dead-letter
topic with its bytes and a reason). Table ``streams``: per stream id, the high-water
position, the parser's state and the stream's event-time watermark, written once per batch.
Observations go to ``observations`` packed per ledger partition (streams/routing.py).
An observation whose identity, token counts and reported cost equal those of the last
observation of that identity this batch sent is not sent again (counted in
``repeated_observations``): the ledger, which meets it after that one in the same
partition, would find nothing in it to count (schemas/ledger.py::apply, ``merged ==
before``). Claude Code writes a response's usage on every content block's line, so
this is about four in ten of a transcript's observations.
A stream's state is decoded once per batch and encoded once, when the batch's writes are
made (live records carry one line each: a stream meets many records in one batch).

With a fleet secret (``SPENDSTREAM_RUNNER_SECRET``), a record that is not signed by the
runner it names, or whose stream is not that runner's (schemas/signing.py), is
dead-lettered whole before anything reads it, every line of it counted ``dead`` and the
record counted in ``runner_identity_rejected``; it moves no stream state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from schemas import envelope, packing
from schemas.accounting import ledger_key
from schemas.normalize import Outcome, StreamState, normalize_lines
from schemas.raw import H_LINES, H_POS, MAX_PACKED_LINES
from schemas.signing import RunnerVerifier
from schemas.sources.base import BadLine, Observation
from schemas.usage import TokenCounts
from streams.routing import Packs
from streams.stages.base import Effects, Output, Record, StateView, dead_letter

OBSERVATIONS = "observations"
STREAMS = "streams"


class NormalizeStage:
    name = "normalize"
    input_topic = "raw"
    tables: tuple[str, ...] = (STREAMS,)

    def __init__(
        self, partitions: int, verifier: RunnerVerifier | None = None, *, skip_repeats: bool = True
    ) -> None:
        self.partitions = partitions
        self.verifier = verifier
        self.skip_repeats = skip_repeats  # False: every observation sent (tests compare both)

    def handle(self, batch: Sequence[Record], read: Callable[[str, bytes], bytes | None]) -> Effects:
        effects = Effects()
        state = StateView(read, effects)
        packs = Packs(self.partitions)
        # Batch-level stream states: decoded once per stream, encoded once per batch.
        latest: dict[str, StreamState] = {}
        written: dict[str, int] = {}  # stream id -> input partition
        sent = SentUsage() if self.skip_repeats else None

        def stream_state(stream_id: str) -> StreamState | None:
            hit = latest.get(stream_id)
            if hit is not None:
                return hit
            data = state.get(STREAMS, stream_id.encode())
            return StreamState.from_bytes(data) if data is not None else None

        for record in batch:
            if self.verifier is not None:
                refused = self.verifier.verify(record.key, record.value, record.headers)
                if refused is not None:
                    effects.outcomes["dead"] += _line_count(record)
                    effects.counters["runner_identity_rejected"] += 1
                    effects.send(dead_letter(record, refused))
                    continue
            last: Outcome | None = None  # the last line that moved the stream's state
            for outcome in normalize_lines(record.value, record.headers, stream_state, key=record.key):
                effects.outcomes[outcome.kind] += 1
                if outcome.new_state is not None and outcome.context is not None:
                    last = outcome
                if outcome.kind == "dead":
                    effects.send(raw_dead_letter(record, outcome))
                for observation in outcome.observations:
                    assert outcome.context is not None
                    if sent is not None and sent.repeats(observation):
                        effects.counters["repeated_observations"] += 1
                        continue
                    packs.add(ledger_key(observation).encode(), envelope.encode(observation, outcome.context))
            if last is not None and last.new_state is not None and last.context is not None:
                latest[last.context.stream_id] = last.new_state
                written[last.context.stream_id] = record.partition
        for stream_id, partition in written.items():
            effects.write(STREAMS, stream_id.encode(), latest[stream_id].to_bytes(), partition)
        for partition, key, value, headers in packs.records():
            effects.send(Output(OBSERVATIONS, key, value, tuple(headers), partition=partition))
        return effects


class SentUsage:
    """The counts a batch last sent per identity: an observation that repeats them exactly
    adds nothing the ledger has not met before it (its identity state already holds them,
    or, had that one been refused, this one would be refused the same way)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[TokenCounts, Decimal | None]] = {}

    def repeats(self, observation: Observation) -> bool:
        counts = (observation.tokens, observation.reported_cost_usd)
        if self._last.get(observation.identity) == counts:
            return True
        self._last[observation.identity] = counts
        return False


def _line_count(record: Record) -> int:
    """Lines a refused record holds, so outcomes still sum to raw lines (1 if unreadable)."""
    try:
        return packing.item_count(record.headers, max_items=MAX_PACKED_LINES)
    except BadLine:
        return 1


def raw_dead_letter(record: Record, outcome: Outcome) -> Output:
    """A dead raw line. One of a packed record goes alone: its own bytes, ``ss-pos`` its
    position, no ``ss-lines``, and ``ss-dlq-line`` its index, so (topic, partition, offset,
    line) names it."""
    reason = outcome.reason or "unknown"
    if outcome.line is None or outcome.context is None:
        return dead_letter(record, reason)
    position = outcome.context.position
    first = int(next((v for k, v in record.headers if k == H_POS), b"0"))
    headers = tuple(
        (k, str(position).encode() if k == H_POS else v) for k, v in record.headers if k != H_LINES
    )
    alone = Record(record.topic, record.partition, record.offset, record.key, None, headers, record.timestamp)
    return dead_letter(alone, reason, value=outcome.line, line=position - first)
