"""Runner signatures on raw records: what lets the worker trust a record's ``ss-runner``.

Kafka tells a consumer nothing about who produced a record (no principal on the record),
and a header naming the runner is forgeable by anyone who may write ``raw``. So a runner
proves its id with a key only it and the worker can compute:

- the operator holds a **fleet secret** (``SPENDSTREAM_RUNNER_SECRET``), shared with the
  worker only;
- each runner gets ``key_r = HMAC-SHA256(fleet secret, "spendstream-runner:" + runner id)``
  (``spendstream runner-key``), never the fleet secret, so one runner's key says nothing
  about another's;
- the producer adds ``ss-sig: v1:<hex HMAC-SHA256(key_r, canonical record)>`` to every raw
  record; the canonical record is the key, the value and every header but ``ss-sig`` in
  order, each length-prefixed (:func:`canonical`). It covers runner, stream, position,
  lineage, session, format, labels, auth mode and every byte of the lines;
- the worker derives ``key_r`` from the record's own ``ss-runner``, recomputes the HMAC and
  compares in constant time; it also requires the stream id (the record key, and the
  transport-dedup namespace of schemas/normalize.py) to be ``<runner id>:...``, so one
  runner cannot advance another's stream positions and have its lines dropped as
  duplicates.

:func:`verify` answers a reason (for the dead-letter topic) or None; it never raises for
input. One HMAC per record (the runner's key is cached), ~1-2 µs for a one-line record.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Iterable, Sequence

from schemas.raw import H_RUNNER, H_STREAM

H_SIG = "ss-sig"
VERSION = b"v1:"
KEY_BYTES = 32
_DOMAIN = b"spendstream-runner:"
_CONTEXT = b"spendstream-raw-v1\x00"
_LEN = struct.Struct(">I")
_NONE = b"\xff\xff\xff\xff"  # a header without a value (aiokafka gives None), told apart from b""
_MAX_CACHED_KEYS = 10_000
REASON_PREFIX = "runner-identity: "


class RunnerKeyError(ValueError):
    """A runner key or fleet secret that cannot be used (the message never quotes it)."""


def derive_runner_key(fleet_secret: bytes, runner_id: str | bytes) -> bytes:
    """The signing key of one runner: HMAC-SHA256(fleet secret, domain + runner id)."""
    if not fleet_secret:
        raise RunnerKeyError("the fleet secret is empty")
    rid = runner_id.encode("utf-8") if isinstance(runner_id, str) else runner_id
    return hmac.digest(fleet_secret, _DOMAIN + rid, "sha256")


def parse_runner_key(text: str) -> bytes:
    """A runner key from its hex text (``spendstream runner-key``'s output)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise RunnerKeyError("SPENDSTREAM_RUNNER_KEY is not hexadecimal") from exc
    if len(key) != KEY_BYTES:
        raise RunnerKeyError(f"SPENDSTREAM_RUNNER_KEY is not {KEY_BYTES * 2} hex characters")
    return key


def _frame(data: bytes | None) -> Sequence[bytes]:
    return (_NONE,) if data is None else (_LEN.pack(len(data)), data)


def canonical(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> bytes:
    """The bytes a signature covers: key, value and every header but ``ss-sig``, framed."""
    parts: list[bytes] = [_CONTEXT, *_frame(key), *_frame(value)]
    for name, raw in headers:
        if name != H_SIG:
            parts += _frame(name.encode("utf-8"))
            parts += _frame(raw)
    return b"".join(parts)


def signature(
    runner_key: bytes, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes | None]]
) -> bytes:
    """The ``ss-sig`` header value of a record."""
    return VERSION + hmac.digest(runner_key, canonical(key, value, headers), "sha256").hex().encode("ascii")


def signed_headers(
    runner_key: bytes, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """``headers`` without any ``ss-sig``, then the record's signature."""
    kept = [(name, raw) for name, raw in headers if name != H_SIG]
    return [*kept, (H_SIG, signature(runner_key, key, value, kept))]


def _quote(raw: bytes) -> str:
    return repr(raw[:64].decode("utf-8", "replace"))


class RunnerVerifier:
    """The worker's check of raw records against the fleet secret (pure, cached keys)."""

    def __init__(self, fleet_secret: bytes) -> None:
        if not fleet_secret:
            raise RunnerKeyError("SPENDSTREAM_RUNNER_SECRET is empty")
        self._secret = fleet_secret
        self._keys: dict[bytes, bytes] = {}

    def _key(self, runner_id: bytes) -> bytes:
        key = self._keys.get(runner_id)
        if key is None:
            if len(self._keys) >= _MAX_CACHED_KEYS:
                self._keys.clear()
            key = self._keys[runner_id] = derive_runner_key(self._secret, runner_id)
        return key

    def verify(
        self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]
    ) -> str | None:
        """None when the record is signed by the runner it names and its stream is that
        runner's; else why not (a dead-letter reason)."""
        runner: bytes | None = None
        stream: bytes | None = None
        sig: bytes | None = None
        seen: set[str] = set()
        for name, raw in headers:
            if name in (H_RUNNER, H_STREAM, H_SIG):
                if name in seen:
                    return f"{REASON_PREFIX}header {name} repeated"
                seen.add(name)
                if name == H_RUNNER:
                    runner = raw
                elif name == H_STREAM:
                    stream = raw
                else:
                    sig = raw
        if not runner:
            return f"{REASON_PREFIX}missing header {H_RUNNER}"
        if sig is None:
            return f"{REASON_PREFIX}record of runner {_quote(runner)} is not signed"
        expected = signature(self._key(runner), key, value, headers)
        if not hmac.compare_digest(sig, expected):
            return f"{REASON_PREFIX}signature does not match runner {_quote(runner)}"
        if b":" in runner:
            return f"{REASON_PREFIX}runner id {_quote(runner)} contains ':'"
        if stream is None or not stream.startswith(runner + b":"):
            return (
                f"{REASON_PREFIX}stream id is not of runner {_quote(runner)} (must start with its id and ':')"
            )
        return None


def fleet_secret_bytes(text: str) -> bytes:
    """The fleet secret's bytes (any text; at least 16 characters, so it is not a password)."""
    if len(text) < 16:
        raise RunnerKeyError("SPENDSTREAM_RUNNER_SECRET is shorter than 16 characters")
    return text.encode("utf-8")
