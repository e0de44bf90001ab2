"""The ledger stage keeps state per batch (decoded once, encoded once per key): it must write
exactly what ``ledger_step`` writes observation by observation, whatever the batch size."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from schemas import envelope, packing
from schemas.accounting import delta_line, ledger_step, origin_header
from schemas.envelope import MAX_ENVELOPES
from schemas.pricing import default_price_table
from schemas.raw import encode_record
from schemas.sources.base import LineContext
from streams.stages.base import Output, Record
from streams.stages.ledger import LEDGER, LedgerStage
from streams.stages.normalize import NormalizeStage

PRICES = default_price_table()
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def observation_records(real_fixtures: Path) -> list[Record]:
    """Real transcript and stream-json lines (groups and their totals), twice, as normalize
    packs them for the ledger, in one partition."""
    raw: list[Record] = []
    for fmt, folder in (
        ("claude-transcript", "claude-transcript"),
        ("claude-stream-json", "claude-stream-json"),
    ):
        for n, path in enumerate(sorted((real_fixtures / folder).glob("*.jsonl"))):
            lines = [line for line in path.read_bytes().splitlines() if line.strip()]
            for copy in ("a", "b"):  # a second stream reporting the same usage
                context = LineContext(fmt, "r", f"r:{fmt}/{n}/{copy}", 1, T0)
                key, value, headers = encode_record(context, lines)
                raw.append(Record("raw", 0, len(raw), key, value, tuple(headers)))
    effects = NormalizeStage(1).handle(raw, lambda _t, _k: None)
    outputs = [o for o in effects.outputs if o.topic == "observations"]
    assert outputs
    return [Record("observations", 0, n, o.key, o.value, o.headers) for n, o in enumerate(outputs)]


def reference(records: list[Record]) -> tuple[dict[bytes, bytes], list[bytes]]:
    """Table and deltas of ``ledger_step`` applied observation by observation."""
    table: dict[bytes, bytes] = {}
    deltas: list[bytes] = []
    for record in records:
        for index, data in enumerate(packing.unpack(record.value, record.headers, max_items=MAX_ENVELOPES)):
            obs, context = envelope.decode(data)
            writes = ledger_step(obs, context, lambda k: table.get(k.encode()), PRICES, "reported")
            table.update({k.encode(): v for k, v in writes.states.items()})
            if writes.event is not None:
                origin = origin_header(record.partition, record.offset, index)
                deltas.append(delta_line(origin, writes.event.to_json()))
    return table, deltas


def staged(records: list[Record], batch: int) -> tuple[dict[bytes, bytes], list[bytes]]:
    stage = LedgerStage(1, PRICES, "reported")
    table: dict[bytes, bytes] = {}
    outputs: list[Output] = []
    for start in range(0, len(records), batch):
        effects = stage.handle(records[start : start + batch], lambda _t, k: table.get(k))
        outputs += effects.outputs
        table.update({k: v for k, (v, _) in effects.writes.get(LEDGER, {}).items()})
    deltas = [
        item
        for o in outputs
        if o.topic == "deltas"
        for item in packing.unpack(o.value, o.headers, max_items=MAX_ENVELOPES)
    ]
    return table, deltas


def test_batch_level_state_writes_what_ledger_step_writes(real_fixtures: Path) -> None:
    records = observation_records(real_fixtures)
    want_table, want_deltas = reference(records)
    assert want_deltas
    for batch in (1, 2, len(records)):
        table, deltas = staged(records, batch)
        assert table == want_table
        assert deltas == want_deltas


def test_a_state_that_does_not_decode_dead_letters_its_observation_only(real_fixtures: Path) -> None:
    records = observation_records(real_fixtures)[:1]
    stage = LedgerStage(1, PRICES, "reported")
    first = packing.unpack(records[0].value, records[0].headers, max_items=MAX_ENVELOPES)[0]
    obs, _ = envelope.decode(first)
    from schemas import ledger

    bad = {ledger.identity_key(obs).encode(): b"{not json"}
    effects = stage.handle(records, lambda _t, k: bad.get(k))
    assert effects.dead_letters >= 1
    dead = [o for o in effects.outputs if o.topic == "deadletter"]
    assert dead[0].value == first
