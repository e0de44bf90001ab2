"""The raw record contract, written once (schemas/raw.py): encode, decode, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.raw import decode_headers, encode_headers, encode_record
from schemas.sources import BadLine, LineContext

AT = datetime(2026, 1, 6, 9, 30, 1, 250, tzinfo=UTC)
CONTEXT = LineContext(
    "claude-json", "host-1", "host-1:run:r1", 7, AT, ("root", "parent"), "r1", {"task": "t-9", "job": "j"}
)

# Exactly what producers wrote before the contract had one encoder: old records still read.
WIRE = [
    ("ss-format", b"claude-json"),
    ("ss-runner", b"host-1"),
    ("ss-stream", b"host-1:run:r1"),
    ("ss-pos", b"7"),
    ("ss-ts", b"2026-01-06T09:30:01.000250+00:00"),
    ("ss-lineage", b"root,parent"),
    ("ss-session", b"r1"),
    ("ss-label-job", b"j"),
    ("ss-label-task", b"t-9"),
]


def test_the_headers_on_the_wire_are_unchanged() -> None:
    assert encode_headers(CONTEXT) == WIRE
    assert decode_headers(WIRE, key=b"host-1:run:r1") == CONTEXT


def test_a_record_is_keyed_by_its_stream_and_counts_its_lines() -> None:
    key, value, headers = encode_record(CONTEXT, [b"a", b"b"])
    assert (key, value, headers) == (b"host-1:run:r1", b"a\nb", [*WIRE, ("ss-lines", b"2")])
    assert encode_record(CONTEXT, [b"a"]) == (b"host-1:run:r1", b"a", WIRE)
    assert decode_headers(headers, key=key) == CONTEXT


TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20)


@given(
    st.builds(
        LineContext,
        source=TEXT,
        runner_id=TEXT,
        stream_id=TEXT,
        position=st.integers(0, 2**62),
        published_at=st.datetimes(
            min_value=datetime(1000, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
        ),
        lineage=st.lists(TEXT.filter(lambda t: "," not in t and t == t.strip()), max_size=3).map(tuple),
        session_hint=st.none() | TEXT,
        labels=st.dictionaries(TEXT, st.text(max_size=10), max_size=3),
    )
)
def test_decode_reads_back_what_encode_wrote(context: LineContext) -> None:
    key, _value, headers = encode_record(context, [b"line"])
    assert decode_headers(headers, key=key) == context


def test_the_producer_time_is_read_in_utc() -> None:
    headers = encode_headers(CONTEXT)
    local = [(k, b"2026-01-06T10:30:01.000250+01:00" if k == "ss-ts" else v) for k, v in headers]
    assert decode_headers(local, key=b"host-1:run:r1").published_at == AT


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "record has no key"),
        (b"", "record key is not its ss-stream header"),
        (b"host-1:run:r2", "record key is not its ss-stream header"),
        ("host-1:run:r1".encode("utf-16"), "record key is not its ss-stream header"),
    ],
)
def test_the_key_must_be_the_stream_id(key: bytes | None, reason: str) -> None:
    with pytest.raises(BadLine) as caught:
        decode_headers(WIRE, key=key)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "name",
    [
        "ss-format",
        "ss-stream",
        "ss-pos",
        "ss-ts",
        "ss-lineage",
        "ss-session",
        "ss-label-task",
        "ss-lines",
        "ss-new",
    ],
)
def test_a_contract_header_given_twice_is_refused_even_with_the_same_value(name: str) -> None:
    headers = [*WIRE, ("ss-lines", b"1"), ("ss-new", b"x")]
    value = dict(headers)[name]
    with pytest.raises(BadLine) as caught:
        decode_headers([*headers, (name, value)], key=b"host-1:run:r1")
    assert caught.value.reason == f"header {name} repeated"


def test_other_headers_may_repeat() -> None:
    headers = [*WIRE, ("traceparent", b"a"), ("traceparent", b"b")]
    assert decode_headers(headers, key=b"host-1:run:r1") == CONTEXT


def test_a_reason_never_quotes_a_header_value() -> None:
    secret = b"sk-ant-secret"
    for headers, key in (([*WIRE, ("ss-pos", secret)], b"host-1:run:r1"), (WIRE, secret)):
        with pytest.raises(BadLine) as caught:
            decode_headers(headers, key=key)
        assert "secret" not in caught.value.reason
