"""The normalize stage with a fleet secret: records not signed by their runner are dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.deadletter import H_REASON
from schemas.raw import encode_record
from schemas.signing import RunnerVerifier, derive_runner_key, signed_headers
from schemas.sources.base import LineContext
from streams.stages.base import Record
from streams.stages.normalize import NormalizeStage
from tests.unit.streams.test_stages import result_line

SECRET = b"fleet-secret-of-the-operator-0123456789"


def raw(runner: str, key_of: str | None, offset: int, lines: list[bytes]) -> Record:
    context = LineContext(
        "claude-json", runner, f"{runner}:/f#0", offset + 1, datetime(2026, 11, 1, tzinfo=UTC)
    )
    key, value, headers = encode_record(context, lines)
    if key_of is not None:
        headers = signed_headers(derive_runner_key(SECRET, key_of), key, value, headers)
    return Record("p.raw", 0, offset, key, value, tuple(headers), 1.0)


def test_forged_and_unsigned_records_are_dead_lettered_and_honest_ones_count() -> None:
    stage = NormalizeStage(4, RunnerVerifier(SECRET))
    batch = [
        raw("r-1", "r-1", 0, [result_line("s1", "run-1")]),
        raw("r-2", "r-1", 1, [result_line("s2", "run-2"), result_line("s2", "run-3")]),  # forged, a pack
        raw("r-3", None, 2, [result_line("s3", "run-4")]),  # unsigned
    ]
    effects = stage.handle(batch, lambda _t, _k: None)
    assert effects.outcomes == {"usage": 1, "dead": 3}
    assert effects.counters["runner_identity_rejected"] == 2
    dead = [o for o in effects.outputs if o.topic == "deadletter"]
    assert [dict(o.headers)[H_REASON] for o in dead] == [
        b"runner-identity: signature does not match runner 'r-2'",
        b"runner-identity: record of runner 'r-3' is not signed",
    ]
    assert dead[0].value == batch[1].value and dead[0].key == batch[1].key  # the whole record, as sent
    assert list(effects.writes["streams"]) == [b"r-1:/f#0"]  # a refused record moves no stream


def test_without_a_fleet_secret_runner_ids_are_trusted() -> None:
    effects = NormalizeStage(4).handle(
        [raw("r-2", None, 0, [result_line("s2", "run-2")])], lambda _t, _k: None
    )
    assert effects.outcomes == {"usage": 1}
