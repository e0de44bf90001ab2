"""Runner signatures (schemas/signing.py): what the worker accepts and refuses, and why."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import pytest

from schemas.raw import encode_record
from schemas.signing import (
    H_SIG,
    RunnerKeyError,
    RunnerVerifier,
    derive_runner_key,
    fleet_secret_bytes,
    parse_runner_key,
    signature,
    signed_headers,
)
from schemas.sources.base import LineContext

SECRET = b"fleet-secret-of-the-operator-0123456789"
LINE = b'{"type":"result","session_id":"s1","usage":{"input_tokens":10,"output_tokens":2}}'


def record(
    runner: str = "r-1",
    stream: str | None = None,
    lines: tuple[bytes, ...] = (LINE,),
    lineage: tuple[str, ...] = (),
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    context = LineContext(
        "claude-json",
        runner,
        stream if stream is not None else f"{runner}:/home/a/out.jsonl#0123456789abcdef",
        7,
        datetime(2026, 11, 1, tzinfo=UTC),
        lineage=lineage,
        session_hint="run-1",
        labels={"task": "T1"},
    )
    return encode_record(context, list(lines))


def signed(key_of: str = "r-1", **kwargs: object) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key, value, headers = record(**kwargs)  # type: ignore[arg-type]
    return key, value, signed_headers(derive_runner_key(SECRET, key_of), key, value, headers)


def test_the_runner_key_is_hmac_of_the_fleet_secret_and_the_runner_id() -> None:
    expected = hmac.digest(SECRET, b"spendstream-runner:r-1", "sha256")
    assert derive_runner_key(SECRET, "r-1") == expected
    assert derive_runner_key(SECRET, "r-1") != derive_runner_key(SECRET, "r-2")
    assert parse_runner_key(expected.hex()) == expected


def test_a_record_signed_by_the_runner_it_names_passes() -> None:
    verifier = RunnerVerifier(SECRET)
    assert verifier.verify(*signed()) is None
    assert verifier.verify(*signed(lines=(LINE, LINE, LINE))) is None  # a pack: one HMAC


def test_a_record_claiming_another_runner_is_refused_with_its_name() -> None:
    key, value, headers = signed(key_of="r-1", runner="r-2")
    assert RunnerVerifier(SECRET).verify(key, value, headers) == (
        "runner-identity: signature does not match runner 'r-2'"
    )


def test_an_unsigned_record_is_refused() -> None:
    assert RunnerVerifier(SECRET).verify(*record()) == "runner-identity: record of runner 'r-1' is not signed"


@pytest.mark.parametrize(
    "change",
    ["value", "lineage", "session", "position", "format", "label", "key", "added header", "dropped header"],
)
def test_any_change_after_signing_breaks_the_signature(change: str) -> None:
    key, value, headers = signed()
    swap = {"lineage": "ss-lineage", "session": "ss-session", "position": "ss-pos", "format": "ss-format"}
    if change == "value":
        value = value.replace(b"10", b"99")
    elif change == "key":
        key = key + b"x"
    elif change == "label":
        headers = [(n, b"T2" if n == "ss-label-task" else v) for n, v in headers]
    elif change == "added header":
        headers = [*headers, ("ss-label-extra", b"1")]
    elif change == "dropped header":
        headers = [(n, v) for n, v in headers if n != "ss-session"]
    else:
        headers = [(n, b"other-root" if n == swap[change] else v) for n, v in headers]
    assert RunnerVerifier(SECRET).verify(key, value, headers) == (
        "runner-identity: signature does not match runner 'r-1'"
    )


def test_a_signed_record_in_another_runners_stream_is_refused() -> None:
    # r-1 signs honestly but names r-2's stream: it would move r-2's high-water position.
    key, value, headers = signed(stream="r-2:/home/b/out.jsonl#0123456789abcdef")
    assert RunnerVerifier(SECRET).verify(key, value, headers) == (
        "runner-identity: stream id is not of runner 'r-1' (must start with its id and ':')"
    )


def test_repeated_or_missing_identity_headers_are_refused() -> None:
    key, value, headers = signed()
    assert RunnerVerifier(SECRET).verify(key, value, [*headers, headers[-1]]) == (
        f"runner-identity: header {H_SIG} repeated"
    )
    no_runner = [(n, v) for n, v in headers if n != "ss-runner"]
    assert RunnerVerifier(SECRET).verify(key, value, no_runner) == "runner-identity: missing header ss-runner"


def test_a_header_without_value_is_told_apart_from_an_empty_one() -> None:
    runner_key = derive_runner_key(SECRET, "r-1")
    assert signature(runner_key, b"k", b"v", [("a", None)]) != signature(runner_key, b"k", b"v", [("a", b"")])


def test_signing_again_replaces_the_old_signature() -> None:
    key, value, headers = signed()
    again = signed_headers(derive_runner_key(SECRET, "r-1"), key, value, headers)
    assert [n for n, _ in again].count(H_SIG) == 1 and again == headers


def test_the_reason_cuts_a_long_runner_id() -> None:
    runner = "r" * 300
    key, value, headers = signed(key_of="other", runner=runner)
    reason = RunnerVerifier(SECRET).verify(key, value, headers)
    assert reason == f"runner-identity: signature does not match runner {'r' * 64!r}"


@pytest.mark.parametrize(
    ("text", "message"), [("zz", "not hexadecimal"), ("ab" * 16, "not 64 hex characters")]
)
def test_unusable_runner_keys_are_refused_without_quoting_them(text: str, message: str) -> None:
    with pytest.raises(RunnerKeyError, match=message) as caught:
        parse_runner_key(text)
    assert text not in str(caught.value)


def test_a_short_fleet_secret_is_refused() -> None:
    with pytest.raises(RunnerKeyError, match="shorter than 16"):
        fleet_secret_bytes("short")
    with pytest.raises(RunnerKeyError):
        RunnerVerifier(b"")
