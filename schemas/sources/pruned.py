"""A transcript line decoded only as far as its accounting reads it.

Most of a Claude Code transcript line's bytes are prompts, code and model output, and
:func:`~schemas.sources.claude_transcript.plain_response` reads none of them. ``orjson`` still
builds a Python string of each. The native ``schemas._pruned_json`` (setup.py) validates the
whole line as ``orjson`` does but builds only the values of :data:`TOP_KEYS` and, inside
``message``, of :data:`MESSAGE_KEYS`. Whatever it is not certain of it declines; the caller
then decodes the line with ``orjson``. Its contract, checked by tests against ``orjson`` on
every fixture, the hostile corpus and random lines::

    load(data, start, end) is None or load(data, start, end) == prune(orjson.loads(data[start:end]))

It also reads such a line as ``plain_response`` does (:func:`native_plain`, which gives
None or exactly ``plain_response``'s tuple, checked the same way), and ``scan`` does both for
a whole file: ``parse`` and ``report --from`` read a transcript with one native call
(spendstream/parallel_parse.py).

Without the compiled module (no C compiler at install), :func:`load` declines every line and
``native_scan`` is None: the same results, by the Python route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.sources.base import MAX_COUNT, MAX_ID_LEN
from schemas.sources.claude_run import FAMILY
from schemas.sources.claude_transcript import SYNTHETIC_MODEL, PlainResponse

#: The top-level keys the transcript's one-pass reading and ``other_kind`` look at.
TOP_KEYS = (
    "type",
    "isApiErrorMessage",
    "costUSD",
    "message",
    "sessionId",
    "agentId",
    "timestamp",
    "requestId",
    "isSidechain",
)
#: The keys of ``message`` they look at.
MESSAGE_KEYS = ("usage", "model", "id")

Loader = Callable[[bytes, int, int], "dict[str, Any] | None"]
#: ``scan(data, max_line) -> (lines, [(kind, start, end, obj), ...])``: the transcript
#: prefilter over a whole file (see the C docstring); kinds:
NativeScan = Callable[[bytes, int], "tuple[int, list[tuple[int, int, int, Any]]]"]
CANDIDATE = 1  # holds "usage" and "assistant"; obj is load() of it
ESCAPED = 2  # holds a \u escape (which could spell either word); obj is None
PLAIN = 3  # a CANDIDATE the native plain() read; obj is plain_response(load() of it)


def _declined(data: bytes, start: int, end: int) -> dict[str, Any] | None:
    return None


try:
    from schemas import _pruned_json  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - built by setup.py wherever a C compiler is
    NATIVE = False
    load: Loader = _declined
    native_scan: NativeScan | None = None
else:
    NATIVE = True
    load = _pruned_json.load
    native_scan = _pruned_json.scan
    # The native plain_response's constants, from where plain_response takes them.
    _pruned_json.configure(SYNTHETIC_MODEL, MAX_ID_LEN, MAX_COUNT, FAMILY)


def native_plain(obj: dict[str, Any]) -> PlainResponse | None:
    """The native :func:`~schemas.sources.claude_transcript.plain_response` of a
    :func:`load`-ed line, or None when it is not certain (then ask ``plain_response``); the
    scan applies it to each line it decodes (kind :data:`PLAIN`)."""
    reading: PlainResponse | None = _pruned_json.plain(obj)
    return reading


def prune(obj: dict[str, Any]) -> dict[str, Any]:
    """What :func:`load` keeps of a decoded line (the reference the native module is checked by)."""
    kept = {key: value for key, value in obj.items() if key in TOP_KEYS}
    message = kept.get("message")
    if type(message) is dict:
        kept["message"] = {key: value for key, value in message.items() if key in MESSAGE_KEYS}
    return kept


def native_spec() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keys the compiled module keeps, for the test that they are :data:`TOP_KEYS` and
    :data:`MESSAGE_KEYS`."""
    spec: tuple[tuple[str, ...], tuple[str, ...]] = _pruned_json.spec()
    return spec
