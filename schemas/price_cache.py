"""The built default price table, cached on disk, so a command starts in milliseconds.

Building :func:`schemas.pricing.default_price_table` imports genai-prices (its snapshot is
Python objects: ~0.15 s per process) for a table of a few hundred prices. Each process that
finds a valid cache file reads that instead and never imports genai-prices.

What is stored: the built table as data, never code (no pickle: a cache file is read, not
executed): a JSON document of strings, ints, lists and objects (:func:`to_document`), each
price a Decimal's exact string, each date ISO text. :func:`from_document` accepts exactly that
shape (every key, every type, canonical text) and gives a table ``==`` to the one written.

When it is used: the file's name and its first line carry a key, a hash of everything the table
is built from: genai-prices' files (size and mtime of its ``data.py``, ``data_snapshot.py`` and
``types.py``, the name of its dist-info directory, so its version), the bytes of
``schemas/pricing.json``, the source of the modules that build the table (schemas/pricing.py,
schemas/genai_table.py, this one) and :data:`FORMAT`. Any change is a miss. The first line also
holds the SHA-256 of the document. Anything else that is not exactly what this module writes (a
truncated, corrupted or foreign file, a file not owned by this user or writable by others, not
a regular file) is a miss too. A miss builds the table as without a cache and rewrites the file.
The table source strings (``as_of``, ``sources``, each model's ``source``, all naming
genai-prices' version) are part of the document, so they read as in a fresh build.

Where: ``$SPENDSTREAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/spendstream``, else
``~/.cache/spendstream`` (created 0700; files 0600). A file is written to a temporary name in
that directory and renamed over its name (``os.replace``): concurrent processes read a whole
file or none. A write also removes other keys' files untouched for a week. Every OSError is
ignored: with a read-only home or a full disk the table is built in each process, as without a
cache. Nothing is printed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import orjson

from schemas.pricing import ModelPrice, ModelPrices, PricePeriod, PriceTable, PriceTier

FORMAT = 1
_MAGIC = "spendstream-price-table"
_PREFIX = "price-table-"
_SUFFIX = ".json"
_MAX_BYTES = 8 << 20  # the default table is ~60 KB: anything this large is not ours
_STALE_SECONDS = 7 * 86400
_GENAI_FILES = ("data.py", "data_snapshot.py", "types.py")
_OWN_SOURCES = ("pricing.py", "genai_table.py", "price_cache.py")
_PRICE_FIELDS = tuple(f.name for f in fields(ModelPrice))
_PRICE_KEYS = frozenset(_PRICE_FIELDS)
_TABLE_KEYS = frozenset(("as_of", "sources", "aliases", "models"))
_MODEL_KEYS = frozenset(("name", "source", "periods"))
_PERIOD_KEYS = frozenset(("since", "price", "tiers"))
_TIER_KEYS = frozenset(("above", "price"))


class CacheFormatError(ValueError):
    """A cache document is not exactly what :func:`to_document` writes: a miss."""


def to_document(table: PriceTable) -> dict[str, Any]:
    """``table`` as JSON primitives (Decimals as exact strings, dates as ISO text)."""
    return {
        "as_of": table.as_of,
        "sources": dict(table.sources),
        "aliases": dict(table.aliases),
        "models": {key: _model_document(model) for key, model in table.models.items()},
    }


def _model_document(model: ModelPrices) -> dict[str, Any]:
    return {
        "name": model.name,
        "source": model.source,
        "periods": [
            {
                "since": None if period.since is None else period.since.isoformat(),
                "price": _price_document(period.price),
                "tiers": [{"above": t.above, "price": _price_document(t.price)} for t in period.tiers],
            }
            for period in model.periods
        ],
    }


def _price_document(price: ModelPrice) -> dict[str, str]:
    return {name: str(getattr(price, name)) for name in _PRICE_FIELDS}


def from_document(doc: object) -> PriceTable:
    """The table :func:`to_document` wrote; CacheFormatError for anything else."""
    raw = _object(doc, _TABLE_KEYS)
    models = {_text(key): _model(value) for key, value in _object(raw["models"]).items()}
    return PriceTable(
        models=models,
        aliases=_texts(raw["aliases"]),
        as_of=_text(raw["as_of"]),
        sources=_texts(raw["sources"]),
    )


def _model(value: object) -> ModelPrices:
    raw = _object(value, _MODEL_KEYS)
    periods = tuple(_period(p) for p in _list(raw["periods"]))
    _expect(len(periods) > 0)  # period_at reads periods[0]
    return ModelPrices(name=_text(raw["name"]), periods=periods, source=_text(raw["source"]))


def _period(value: object) -> PricePeriod:
    raw = _object(value, _PERIOD_KEYS)
    since = None if raw["since"] is None else _date(raw["since"])
    tiers = tuple(_tier(t) for t in _list(raw["tiers"]))
    return PricePeriod(since=since, price=_price(raw["price"]), tiers=tiers)


def _tier(value: object) -> PriceTier:
    raw = _object(value, _TIER_KEYS)
    above = raw["above"]
    _expect(type(above) is int)
    return PriceTier(above=above, price=_price(raw["price"]))


def _price(value: object) -> ModelPrice:
    raw = _object(value, _PRICE_KEYS)
    return ModelPrice(**{name: _decimal(raw[name]) for name in _PRICE_FIELDS})


def _expect(condition: bool) -> None:
    if not condition:
        raise CacheFormatError("not a price table cache document")


def _object(value: object, keys: frozenset[str] | None = None) -> dict[str, Any]:
    _expect(type(value) is dict)
    assert isinstance(value, dict)
    _expect(keys is None or value.keys() == keys)
    return value


def _list(value: object) -> list[Any]:
    _expect(type(value) is list)
    assert isinstance(value, list)
    return value


def _text(value: object) -> str:
    _expect(type(value) is str)
    assert isinstance(value, str)
    return value


def _texts(value: object) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in _object(value).items()}


def _decimal(value: object) -> Decimal:
    text = _text(value)
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise CacheFormatError(f"not a decimal: {text!r}") from exc
    _expect(amount.is_finite() and str(amount) == text)  # canonical text: the exact Decimal
    return amount


def _date(value: object) -> date:
    text = _text(value)
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise CacheFormatError(f"not a date: {text!r}") from exc
    _expect(day.isoformat() == text)
    return day


def cache_dir() -> Path | None:
    """``$SPENDSTREAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/spendstream``, else
    ``~/.cache/spendstream``; None when there is no home to put it in."""
    explicit = os.environ.get("SPENDSTREAM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is ignored
        return Path(xdg) / "spendstream"
    try:
        return Path.home() / ".cache" / "spendstream"
    except RuntimeError:  # no HOME and no passwd entry
        return None


def cache_key(pricing_json: bytes) -> str:
    """A hash of every input of the default table (module docstring); OSError when one of
    them cannot be read (then nothing is cached)."""
    digest = hashlib.sha256(f"{_MAGIC} {FORMAT}\n".encode())
    spec = find_spec("genai_prices")  # a top-level name: finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        raise OSError("genai-prices is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    for name in _GENAI_FILES:
        info = (package / name).stat()
        digest.update(f"genai_prices/{name} {info.st_size} {info.st_mtime_ns}\n".encode())
    dists = sorted(p.name for p in package.parent.iterdir() if p.name.startswith("genai_prices-"))
    digest.update(f"{dists}\n".encode())
    here = Path(__file__).parent
    for name, data in [("pricing.json", pricing_json)] + [(n, (here / n).read_bytes()) for n in _OWN_SOURCES]:
        digest.update(f"{name} {len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def load_or_build(pricing_json: bytes, build: Callable[[bytes], PriceTable]) -> PriceTable:
    """The cached table of these inputs, else ``build(pricing_json)``, then cached."""
    directory = cache_dir()
    try:
        key = cache_key(pricing_json)
    except OSError:
        return build(pricing_json)
    path = None if directory is None else directory / f"{_PREFIX}{key}{_SUFFIX}"
    if path is not None:
        cached = read_cache(path, key)
        if cached is not None:
            return cached
    table = build(pricing_json)
    if path is not None and _same_key(key, pricing_json):
        write_cache(path, key, table)
    return table


def _same_key(key: str, pricing_json: bytes) -> bool:
    """Whether the inputs are unchanged since ``key`` (a package upgraded mid-build would
    otherwise store the new table under the old key)."""
    try:
        return cache_key(pricing_json) == key
    except OSError:
        return False


def read_cache(path: Path, key: str) -> PriceTable | None:
    """The table in ``path`` if it is exactly a cache file of ``key``, else None (a miss)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # NONBLOCK: a FIFO there must not hang us
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not _trusted(info):
                return None
            data = file.read(_MAX_BYTES + 1)
    except OSError:
        return None
    header, newline, body = data.partition(b"\n")
    if not newline or header != _header(key, body):
        return None
    try:
        return from_document(orjson.loads(body))
    except ValueError:  # orjson.JSONDecodeError, CacheFormatError
        return None


def _trusted(info: os.stat_result) -> bool:
    """A regular file of ours no one else can write: anyone who could would set our prices."""
    getuid = getattr(os, "getuid", None)
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_size <= _MAX_BYTES
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and (getuid is None or info.st_uid == getuid())
    )


def _header(key: str, body: bytes) -> bytes:
    return f"{_MAGIC} {FORMAT} {key} {hashlib.sha256(body).hexdigest()}".encode()


def write_cache(path: Path, key: str, table: PriceTable) -> None:
    """Write ``table`` to ``path`` atomically (temp file, ``os.replace``); a failure is ignored."""
    directory = path.parent
    temp = directory / f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
    try:
        body = orjson.dumps(to_document(table))
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(_header(key, body) + b"\n" + body)
            temp.replace(path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _remove_stale(directory, keep=path.name)
    except (OSError, orjson.JSONEncodeError):  # the cache is an optimisation: never a failure
        pass


def _remove_stale(directory: Path, keep: str) -> None:
    """Other keys' cache files (an older genai-prices, an edited pricing.json) and temporary
    files not written for a week. A version still in use that loses its file rebuilds it once."""
    cutoff = time.time() - _STALE_SECONDS
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            ours = name.startswith(_PREFIX) and name.endswith(_SUFFIX)
            left_behind = name.startswith(f".{_PREFIX}") and name.endswith(".tmp")  # a killed writer's
            if name == keep or not (ours or left_behind):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    Path(entry.path).unlink()
            except OSError:
                continue
