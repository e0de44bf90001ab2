"""The raw topic's record contract, written once: producers encode it, the worker decodes it.

A raw record describes consecutive lines of one stream:

- **Key**: the stream id (``ss-stream``) as UTF-8, so every line of one stream lands in
  one partition, in order. A record whose key is missing or is not its ``ss-stream`` is
  invalid (:func:`record_key`, checked by :func:`decode_headers`).
- **Value**: one CLI output line, byte for byte (no trailing newline); or, with
  ``ss-lines: N``, N lines joined by ``\n`` (a packed record, schemas/packing.py:
  backfills and catching-up watchers pack lines so the worker pays its per-record cost
  once per pack). Line i of a pack is at position ``ss-pos + i``.
- **Headers** (all UTF-8 text; each ``ss-*`` header at most once, a repeated one makes the
  record invalid), written by :func:`encode_headers` from a :class:`LineContext` and read
  back by :func:`decode_headers`:

  - ``ss-format``   the source format (``claude-json``, ``claude-transcript`` ...)
  - ``ss-runner``   runner id (default: the runner's hostname)
  - ``ss-stream``   stable id of the stream the line came from (runner + file path, or a
                    run id); with ``ss-pos`` it names a line, so a re-published line is
                    recognised as the same line
  - ``ss-pos``      the (first) line's position in its stream (1-based line number)
  - ``ss-ts``       producer timestamp, ISO-8601 UTC, used when the line has no time
  - ``ss-lineage``  ancestor scope ids, root first, comma separated (may be empty)
  - ``ss-session``  the scope id the runner assigned to this run, when it did
  - ``ss-auth``     how the runner's usage is billed: ``api_key`` or ``subscription``
                    (absent: no evidence); only the mode, never a key or a file's content
  - ``ss-auth-from`` where ``ss-auth`` came from: ``declared`` (``--auth-mode``,
                    ``SPENDSTREAM_AUTH_MODE``) or ``environment`` (guessed from the
                    runner's environment); it ranks the header against what the CLI reports
  - ``ss-label-<k>`` free labels (task id, pipeline ...)
  - ``ss-lines``    number of lines in a packed record (absent: 1), schemas/packing.py
  - ``ss-sig``      the runner's signature of the record (schemas/signing.py), when the
                    runner has a key; checked by the worker when it has the fleet secret

A record that breaks the contract is terminal for the whole record: :class:`BadLine` with a
reason that names the header, never its content.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from schemas import packing
from schemas.sources.base import BadLine, LineContext
from schemas.usage import AuthMode

H_FORMAT = "ss-format"
H_RUNNER = "ss-runner"
H_STREAM = "ss-stream"
H_POS = "ss-pos"
H_TS = "ss-ts"
H_LINEAGE = "ss-lineage"
H_SESSION = "ss-session"
H_AUTH = "ss-auth"
H_AUTH_FROM = "ss-auth-from"
AUTH_DECLARED, AUTH_ENVIRONMENT = "declared", "environment"
_WIRE_AUTH_MODES = ("api_key", "subscription")
H_LINES = packing.H_COUNT
LABEL_PREFIX = "ss-label-"
CONTRACT_PREFIX = "ss-"

MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_PACKED_LINES = 10_000
# Far beyond any line number, and small enough that every line of a packed record has a
# position that fits the 64-bit integers of the worker's JSON state and envelopes (orjson).
MAX_POSITION = 2**62


def record_key(context: LineContext) -> bytes:
    """The key of a raw record: its stream id, so one stream stays in one partition."""
    return context.stream_id.encode("utf-8")


def format_timestamp(at: datetime) -> str:
    """The ``ss-ts`` text of ``at``: ISO-8601 in UTC, to the microsecond."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def encode_headers(context: LineContext) -> list[tuple[str, bytes]]:
    """The headers of a raw record whose first line ``context`` describes.

    ``ss-lines`` is not among them: schemas/packing.py adds it with the value it describes.
    ``context.stream_watermark`` is the worker's, never on the wire.
    """
    items = [
        (H_FORMAT, context.source),
        (H_RUNNER, context.runner_id),
        (H_STREAM, context.stream_id),
        (H_POS, str(context.position)),
        (H_TS, format_timestamp(context.published_at)),
        (H_LINEAGE, ",".join(context.lineage)),
    ]
    if context.session_hint:
        items.append((H_SESSION, context.session_hint))
    if context.auth_mode in _WIRE_AUTH_MODES:
        items.append((H_AUTH, context.auth_mode))
        items.append((H_AUTH_FROM, AUTH_DECLARED if context.auth_declared else AUTH_ENVIRONMENT))
    for name, value in sorted(context.labels.items()):
        items.append((LABEL_PREFIX + name, value))
    return [(name, value.encode("utf-8")) for name, value in items]


def encode_record(
    context: LineContext, lines: Sequence[bytes]
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Key, value and headers of a raw record holding ``lines``, the first at ``context.position``."""
    value, count_headers = packing.pack(lines)
    return record_key(context), value, encode_headers(context) + count_headers


def parse_lineage(text: str) -> tuple[str, ...]:
    """``"root,child"`` -> ``("root", "child")``; blanks dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _header_texts(headers: Iterable[tuple[str, bytes | None]]) -> tuple[dict[str, str], dict[str, str]]:
    """The headers as text, contract headers and labels apart; refuses a repeated ``ss-*``."""
    values: dict[str, str] = {}
    labels: dict[str, str] = {}
    seen: set[str] = set()
    for name, raw in headers:
        if name.startswith(CONTRACT_PREFIX):
            if name in seen:
                # Kafka keeps both values and which one is meant is unknowable: refuse both.
                raise BadLine(f"header {name[:64]} repeated")
            seen.add(name)
        try:
            text = raw.decode("utf-8") if raw is not None else ""
        except UnicodeDecodeError as exc:
            raise BadLine(f"header {name[:64]} is not UTF-8") from exc
        if name.startswith(LABEL_PREFIX):
            labels[name[len(LABEL_PREFIX) :]] = text
        else:
            values[name] = text
    return values, labels


def _auth(values: dict[str, str]) -> tuple[AuthMode | None, bool]:
    source = values.get(H_AUTH_FROM) or AUTH_ENVIRONMENT
    match values.get(H_AUTH) or None:
        case None:
            return None, False
        case "api_key" | "subscription" as mode if source in (AUTH_DECLARED, AUTH_ENVIRONMENT):
            checked: AuthMode = "api_key" if mode == "api_key" else "subscription"
            return checked, source == AUTH_DECLARED
        case "api_key" | "subscription":
            raise BadLine(f"header {H_AUTH_FROM} is not {AUTH_DECLARED} or {AUTH_ENVIRONMENT}")
        case _:
            raise BadLine(f"header {H_AUTH} is not one of {_WIRE_AUTH_MODES}")


def decode_headers(headers: Iterable[tuple[str, bytes | None]] | None, *, key: bytes | None) -> LineContext:
    """Validate a raw record's key and headers into the LineContext of its first line.

    Raises BadLine when a required header is missing or invalid, an ``ss-*`` header is
    repeated, or the key is not the record's ``ss-stream``. ``ss-lines`` is read by
    schemas/packing.py.
    """
    values, labels = _header_texts(headers or ())
    for required in (H_FORMAT, H_RUNNER, H_STREAM, H_POS, H_TS):
        if not values.get(required):
            raise BadLine(f"missing header {required}")
    try:
        position = int(values[H_POS])
    except ValueError as exc:
        raise BadLine(f"header {H_POS} is not an integer") from exc
    if not 0 <= position <= MAX_POSITION:
        raise BadLine(f"header {H_POS} out of range 0..{MAX_POSITION}")
    try:
        published_at = datetime.fromisoformat(values[H_TS])
    except ValueError as exc:
        raise BadLine(f"header {H_TS} is not ISO-8601") from exc
    if published_at.tzinfo is None:
        raise BadLine(f"header {H_TS} has no timezone")
    try:
        published_at = published_at.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadLine(f"header {H_TS} out of range") from exc
    auth_mode, auth_declared = _auth(values)
    context = LineContext(
        source=values[H_FORMAT],
        runner_id=values[H_RUNNER],
        stream_id=values[H_STREAM],
        position=position,
        published_at=published_at,
        lineage=parse_lineage(values.get(H_LINEAGE, "")),
        session_hint=values.get(H_SESSION) or None,
        labels=labels,
        auth_mode=auth_mode,
        auth_declared=auth_declared,
    )
    if key is None:
        raise BadLine("record has no key")
    if key != record_key(context):
        raise BadLine(f"record key is not its {H_STREAM} header")
    return context
