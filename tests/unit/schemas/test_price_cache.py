"""The on-disk cache of the built default price table (schemas/price_cache.py): a warm start
reads a data file instead of importing genai-prices, and anything but an exact file of the
same inputs is a miss that builds the table as without a cache."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from schemas import price_cache, pricing
from schemas.price_cache import CacheFormatError, from_document, load_or_build, to_document
from schemas.pricing import ModelPrice, ModelPrices, PricePeriod, PriceTable, PriceTier

REPO = Path(__file__).resolve().parents[3]
PRICING_JSON = pricing._bundled_bytes()
FRESH = pricing._build_default_table(PRICING_JSON)  # built, never read from a cache
_CHILD = (
    "import hashlib, sys\n"
    "from schemas.pricing import default_price_table\n"
    "t = default_price_table()\n"
    "print('genai_prices' in sys.modules, hashlib.sha256(repr(t).encode()).hexdigest())\n"
)


def exact(table: PriceTable) -> str:
    """Every value with its type and exact digits (Decimal('3.0') is == Decimal('3'), not this)."""
    return repr(table)


def never_built(pricing_json: bytes) -> PriceTable:
    raise AssertionError("a cache hit was expected")


class Builds:
    """A build that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pricing_json: bytes) -> PriceTable:
        self.calls += 1
        return pricing._build_default_table(pricing_json)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("SPENDSTREAM_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def fresh_default() -> Iterator[None]:
    """``default_price_table`` forgets its table before and after the test."""
    pricing.default_price_table.cache_clear()
    yield
    pricing.default_price_table.cache_clear()


def cache_file(directory: Path) -> Path:
    (path,) = directory.glob("price-table-*.json")
    return path


def test_default_table_round_trips_exactly() -> None:
    doc = orjson.loads(orjson.dumps(to_document(FRESH)))
    table = from_document(doc)
    assert table == FRESH
    assert exact(table) == exact(FRESH)
    assert list(table.models) == list(FRESH.models)
    assert (table.as_of, dict(table.sources)) == (FRESH.as_of, dict(FRESH.sources))
    assert table.as_of.startswith("genai-prices ")


def random_decimal(rng: random.Random) -> Decimal:
    digits = rng.randrange(0, 10 ** rng.randrange(1, 12))
    return Decimal(digits).scaleb(-rng.randrange(0, 7)) if rng.random() < 0.9 else Decimal(f"{digits}E+2")


def random_price(rng: random.Random) -> ModelPrice:
    return ModelPrice(*(random_decimal(rng) for _ in range(6)))


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice('abz-.09 :/é€"\\\n') for _ in range(rng.randrange(0, 12)))


def random_table(rng: random.Random) -> PriceTable:
    models = {}
    for _ in range(rng.randrange(0, 8)):
        days = sorted(rng.sample(range(20_000, 21_000), rng.randrange(0, 4)))
        sinces: list[date | None] = [None, *(date(1970, 1, 1) + timedelta(days=d) for d in days)]
        periods = tuple(
            PricePeriod(
                since=since,
                price=random_price(rng),
                tiers=tuple(
                    PriceTier(rng.randrange(0, 2_000_000), random_price(rng))
                    for _ in range(rng.randrange(0, 3))
                ),
            )
            for since in sinces[rng.randrange(0, 2) :] or [None]
        )
        name = random_text(rng)
        models[name] = ModelPrices(name, periods, random_text(rng))
    aliases = {random_text(rng): rng.choice([*models, "x"]) for _ in range(rng.randrange(0, 5))}
    sources = {random_text(rng): random_text(rng) for _ in range(rng.randrange(0, 3))}
    return PriceTable(models, aliases, random_text(rng), sources)


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_round_trip_exactly(seed: int, tmp_path: Path) -> None:
    table = random_table(random.Random(seed))
    again = from_document(orjson.loads(orjson.dumps(to_document(table))))
    assert exact(again) == exact(table), f"seed {seed}"
    path = tmp_path / "t.json"
    price_cache.write_cache(path, "k", table)
    from_file = price_cache.read_cache(path, "k")
    assert from_file is not None, f"seed {seed}"
    assert exact(from_file) == exact(table), f"seed {seed}"


def test_a_miss_builds_and_writes_then_a_hit_reads(cache: Path) -> None:
    build = Builds()
    assert exact(load_or_build(PRICING_JSON, build)) == exact(FRESH)
    assert build.calls == 1
    path = cache_file(cache)
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.name == f"price-table-{price_cache.cache_key(PRICING_JSON)}.json"
    assert exact(load_or_build(PRICING_JSON, never_built)) == exact(FRESH)
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temporary file left


def run_child(cache_dir: Path) -> tuple[bool, str]:
    env = {**os.environ, "SPENDSTREAM_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, cwd=REPO, capture_output=True, check=True, text=True
    )
    assert done.stderr == ""  # the cache never prints
    imported, digest = done.stdout.split()
    return imported == "True", digest


def test_a_warm_process_does_not_import_genai_prices(cache: Path) -> None:
    fresh = hashlib.sha256(exact(FRESH).encode()).hexdigest()
    assert run_child(cache) == (True, fresh)  # cold: built from genai-prices, then written
    assert run_child(cache) == (False, fresh)  # warm: the same table, genai-prices not imported


def test_default_price_table_uses_the_cache(cache: Path, fresh_default: None) -> None:
    load_or_build(PRICING_JSON, Builds())
    path = cache_file(cache)
    table = pricing.default_price_table()
    assert exact(table) == exact(FRESH)
    assert pricing.load_price_table(None) is table
    assert path.stat().st_mtime_ns == cache_file(cache).stat().st_mtime_ns  # read, not rewritten


def rewrite(path: Path, doc: Any) -> None:
    """A file of ``doc`` with a valid header (key and digest): only its content is wrong."""
    rewrite_body(path, orjson.dumps(doc))


def rewrite_body(path: Path, body: bytes) -> None:
    key = path.name.removeprefix("price-table-").removesuffix(".json")
    header = f"spendstream-price-table {price_cache.FORMAT} {key} {hashlib.sha256(body).hexdigest()}"
    path.write_bytes(header.encode() + b"\n" + body)


def spoil_price(value: object) -> Any:
    doc = to_document(FRESH)
    model = next(iter(doc["models"].values()))
    model["periods"][0]["price"]["input"] = value
    return doc


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flipped_digit(path: Path) -> None:
    data = path.read_bytes()
    at = data.index(b'"input":"') + len(b'"input":"')
    path.write_bytes(data[:at] + (b"8" if data[at : at + 1] != b"8" else b"9") + data[at + 1 :])


def foreign_key(path: Path) -> None:
    price_cache.write_cache(path, "0" * 64, FRESH)  # a whole file, of other inputs


def other_format(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(f" {price_cache.FORMAT} ".encode(), b" 999 ", 1))


SPOILERS = {
    "empty": lambda p: p.write_bytes(b""),
    "truncated": truncated,
    "flipped digit": flipped_digit,
    "foreign key": foreign_key,
    "other format": other_format,
    "not json": lambda p: rewrite_body(p, orjson.dumps(to_document(FRESH))[:-1]),
    "pickle-like": lambda p: p.write_bytes(b"\x80\x04\x95"),
    "extra key": lambda p: rewrite(p, {**to_document(FRESH), "more": 1}),
    "missing key": lambda p: rewrite(p, {k: v for k, v in to_document(FRESH).items() if k != "sources"}),
    "not canonical decimal": lambda p: rewrite(p, spoil_price("03")),
    "float price": lambda p: rewrite(p, spoil_price(3.0)),
    "infinite price": lambda p: rewrite(p, spoil_price("Infinity")),
    "not a decimal": lambda p: rewrite(p, spoil_price("3$")),
    "a list": lambda p: rewrite(p, [to_document(FRESH)]),
    "group writable": lambda p: p.chmod(0o620),
    "a directory": lambda p: (p.unlink(), p.mkdir()),
    "a fifo": lambda p: (p.unlink(), os.mkfifo(p)),
}


@pytest.mark.parametrize("spoil", SPOILERS)
def test_a_spoiled_file_is_a_miss_and_is_replaced(spoil: str, cache: Path) -> None:
    load_or_build(PRICING_JSON, Builds())
    path = cache_file(cache)
    SPOILERS[spoil](path)
    key = price_cache.cache_key(PRICING_JSON)
    assert price_cache.read_cache(path, key) is None
    build = Builds()
    assert exact(load_or_build(PRICING_JSON, build)) == exact(FRESH)
    assert build.calls == 1
    if spoil != "a directory":  # os.replace cannot put a file over a directory: built every time
        assert exact(load_or_build(PRICING_JSON, never_built)) == exact(FRESH)


def spoiled_document(name: str) -> Any:
    doc = to_document(FRESH)
    model = next(iter(doc["models"].values()))
    period = model["periods"][0]
    changes = {
        "since not ISO": lambda: period.update(since="20250101"),
        "since a number": lambda: period.update(since=20250101),
        "no periods": lambda: model.update(periods=[]),
        "tier above a bool": lambda: period.update(tiers=[{"above": True, "price": period["price"]}]),
        "tier above a string": lambda: period.update(tiers=[{"above": "1", "price": period["price"]}]),
        "price field missing": lambda: period["price"].pop("cache_read"),
        "alias to a number": lambda: doc["aliases"].update(x=1),
        "as_of missing": lambda: doc.pop("as_of"),
        "model name a list": lambda: model.update(name=["x"]),
    }
    changes[name]()
    return doc


@pytest.mark.parametrize(
    "name",
    [
        "since not ISO",
        "since a number",
        "no periods",
        "tier above a bool",
        "tier above a string",
        "price field missing",
        "alias to a number",
        "as_of missing",
        "model name a list",
    ],
)
def test_from_document_takes_only_what_to_document_writes(name: str) -> None:
    with pytest.raises(CacheFormatError):
        from_document(spoiled_document(name))


@pytest.mark.parametrize("where", ["under a file", "a file"])
def test_an_unwritable_cache_still_gives_the_table(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_default: None
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    directory = blocker / "cache" if where == "under a file" else blocker
    monkeypatch.setenv("SPENDSTREAM_CACHE_DIR", str(directory))
    build = Builds()
    assert exact(load_or_build(PRICING_JSON, build)) == exact(FRESH)
    assert exact(load_or_build(PRICING_JSON, build)) == exact(FRESH)
    assert build.calls == 2
    assert exact(pricing.default_price_table()) == exact(FRESH)
    assert blocker.read_text() == "not a directory"


def test_no_home_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPENDSTREAM_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_home(cls: type[Path]) -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", classmethod(no_home))
    assert price_cache.cache_dir() is None
    build = Builds()
    assert exact(load_or_build(PRICING_JSON, build)) == exact(FRESH)
    assert build.calls == 1


def test_where_the_cache_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPENDSTREAM_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert price_cache.cache_dir() == tmp_path / "home" / ".cache" / "spendstream"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert price_cache.cache_dir() == tmp_path / "home" / ".cache" / "spendstream"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert price_cache.cache_dir() == tmp_path / "xdg" / "spendstream"
    monkeypatch.setenv("SPENDSTREAM_CACHE_DIR", str(tmp_path / "mine"))
    assert price_cache.cache_dir() == tmp_path / "mine"


def test_other_pricing_json_bytes_are_a_miss(cache: Path) -> None:
    load_or_build(PRICING_JSON, Builds())
    doc = orjson.loads(PRICING_JSON)
    doc["models"]["my-model"] = {
        k: "1" for k in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
    }
    edited = orjson.dumps(doc)
    assert price_cache.cache_key(edited) != price_cache.cache_key(PRICING_JSON)
    same_length = PRICING_JSON.replace(b'"as_of": "2026', b'"as_of": "2027', 1)
    assert len(same_length) == len(PRICING_JSON) and same_length != PRICING_JSON
    assert price_cache.cache_key(same_length) != price_cache.cache_key(PRICING_JSON)
    build = Builds()
    table = load_or_build(edited, build)
    assert build.calls == 1
    assert table.lookup("my-model") == ModelPrice(*[Decimal(1)] * 5)
    assert FRESH.lookup("my-model") is None
    assert len(list(cache.glob("price-table-*.json"))) == 2
    assert exact(load_or_build(PRICING_JSON, never_built)) == exact(FRESH)


def test_the_key_follows_genai_prices_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "genai_prices"
    package.mkdir(parents=True)
    for name in ("data.py", "data_snapshot.py", "types.py"):
        (package / name).write_text("x = 1\n")
    (tmp_path / "site" / "genai_prices-0.2.3.dist-info").mkdir()
    spec = SimpleNamespace(submodule_search_locations=[str(package)])
    monkeypatch.setattr(price_cache, "find_spec", lambda name: spec)
    keys = [price_cache.cache_key(PRICING_JSON)]
    os.utime(package / "data.py", ns=(1, 1))
    keys.append(price_cache.cache_key(PRICING_JSON))
    (package / "types.py").write_text("x = 12\n")
    keys.append(price_cache.cache_key(PRICING_JSON))
    (tmp_path / "site" / "genai_prices-0.2.3.dist-info").rename(
        tmp_path / "site" / "genai_prices-0.2.4.dist-info"
    )
    keys.append(price_cache.cache_key(PRICING_JSON))
    assert len(set(keys)) == 4
    (package / "data.py").unlink()
    with pytest.raises(OSError):
        price_cache.cache_key(PRICING_JSON)
    monkeypatch.setattr(price_cache, "find_spec", lambda name: None)
    with pytest.raises(OSError):
        price_cache.cache_key(PRICING_JSON)


def test_the_key_follows_the_building_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("pricing.py", "genai_table.py", "price_cache.py"):
        (tmp_path / name).write_bytes((REPO / "schemas" / name).read_bytes())
    monkeypatch.setattr(price_cache, "__file__", str(tmp_path / "price_cache.py"))
    keys = {price_cache.cache_key(PRICING_JSON)}
    assert keys == {price_cache.cache_key(PRICING_JSON)}  # same inputs, same key
    for name in ("pricing.py", "genai_table.py", "price_cache.py"):
        path = tmp_path / name
        data = path.read_bytes()
        path.write_bytes(data.replace(b"from", b"From", 1))  # same length, other bytes
        keys.add(price_cache.cache_key(PRICING_JSON))
    assert len(keys) == 4


def test_a_write_removes_week_old_files_of_other_keys(cache: Path) -> None:
    cache.mkdir(mode=0o700)
    old, recent, other = (
        cache / "price-table-old.json",
        cache / "price-table-recent.json",
        cache / "notes.txt",
    )
    left_behind = cache / ".price-table-x.json.123.abc.tmp"
    for path in (old, recent, other, left_behind):
        path.write_text("x")
    week_ago = time.time() - 8 * 86400
    for path in (old, other, left_behind):
        os.utime(path, (week_ago, week_ago))
    load_or_build(PRICING_JSON, Builds())
    key = price_cache.cache_key(PRICING_JSON)
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        ["notes.txt", "price-table-recent.json", f"price-table-{key}.json"]
    )


def test_concurrent_cold_processes_agree(cache: Path) -> None:
    env = {**os.environ, "SPENDSTREAM_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=120)[0].split() for child in children]
    fresh = hashlib.sha256(exact(FRESH).encode()).hexdigest()
    assert all(child.returncode == 0 for child in children)
    assert {digest for _, digest in outputs} == {fresh}
    assert exact(load_or_build(PRICING_JSON, never_built)) == exact(FRESH)
    assert [p.name for p in cache.iterdir()] == [cache_file(cache).name]


def test_a_table_json_cannot_hold_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    price_cache.write_cache(path, "k", PriceTable({}, {1: "x"}, "", {}))  # type: ignore[dict-item]
    assert list(tmp_path.iterdir()) == []
