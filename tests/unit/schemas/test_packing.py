"""The one codec of records that carry several items (schemas/packing.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import TerminalError
from schemas.packing import H_COUNT, pack, unpack
from schemas.sources import BadLine

ITEMS = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), min_size=1, max_size=50)


@given(ITEMS)
def test_packed_items_come_back_as_they_went(items: list[bytes]) -> None:
    value, headers = pack(items)
    assert unpack(value, headers, max_items=50) == items


def test_one_item_travels_as_itself_without_a_header() -> None:
    assert pack([b"a\nb"]) == (b"a\nb", [])  # alone, an item may hold a newline
    assert unpack(b"a\nb", [], max_items=1) == [b"a\nb"]
    assert unpack(b"a\nb", None, max_items=1) == [b"a\nb"]


def test_several_items_carry_their_count() -> None:
    assert pack([b"a", b"", b"c"]) == (b"a\n\nc", [(H_COUNT, b"3")])
    assert H_COUNT == "ss-lines"


def test_packing_nothing_or_a_newline_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        pack([])
    with pytest.raises(ValueError, match="newline"):
        pack([b"a", b"b\nc"])


def test_the_count_is_bounded_by_the_reader() -> None:
    value, headers = pack([b"x"] * 5)
    assert len(unpack(value, headers, max_items=5)) == 5
    with pytest.raises(BadLine, match=r"^header ss-lines out of range 1\.\.4$"):
        unpack(value, headers, max_items=4)


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"a\nb", [(H_COUNT, b"3")], "packed record holds 2 lines, header ss-lines says 3"),
        (b"a\nb\nc", [(H_COUNT, b"2")], "packed record holds 3 lines, header ss-lines says 2"),
        (b"a", [(H_COUNT, b"0")], "header ss-lines out of range 1..10"),
        (b"a", [(H_COUNT, b"-1")], "header ss-lines is not an integer"),
        (b"a", [(H_COUNT, b"two")], "header ss-lines is not an integer"),
        (b"a", [(H_COUNT, b" 1")], "header ss-lines is not an integer"),
        (b"a", [(H_COUNT, b"1_0")], "header ss-lines is not an integer"),
        (b"a", [(H_COUNT, b"\xff")], "header ss-lines is not an integer"),
        (b"a", [(H_COUNT, b"9" * 5000)], "header ss-lines out of range 1..10"),
        (b"a", [(H_COUNT, None)], "header ss-lines has no value"),
        (b"a\nb", [(H_COUNT, b"2"), (H_COUNT, b"2")], "header ss-lines repeated"),
        (None, [], "record has no value"),
        (None, [(H_COUNT, b"2")], "record has no value"),
    ],
)
def test_an_invalid_record_is_a_bad_line_with_a_reason(
    value: bytes | None, headers: Any, reason: str
) -> None:
    with pytest.raises(BadLine) as caught:
        unpack(value, headers, max_items=10)
    assert caught.value.reason == reason
    assert isinstance(caught.value, TerminalError)


def test_other_headers_are_not_the_codecs_business() -> None:
    assert unpack(b"a\nb", [("ss-pos", b"1"), (H_COUNT, b"2"), ("ss-pos", b"1")], max_items=2) == [b"a", b"b"]
