"""config/local_settings.py reads what ``Settings`` reads, or leaves it to ``Settings``."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from pydantic import ValidationError

from config.local_settings import (
    COST_MODES,
    DEFAULT_COST_MODE,
    DEFAULT_DATA_DIR,
    LOCAL_FIELDS,
    MAX_RUNNER_ID,
    SETTINGS_FIELDS,
    LocalSettings,
    local_settings,
)
from config.settings import Settings
from schemas import pricing

REPO = Path(__file__).resolve().parents[3]
TRANSCRIPT = REPO.parent / "shared" / "fixtures" / "real" / "claude-transcript"


def test_the_field_list_is_settings_fields() -> None:
    assert set(Settings.model_fields) == SETTINGS_FIELDS
    assert LOCAL_FIELDS <= SETTINGS_FIELDS


def test_bounds_and_defaults_are_settings_own() -> None:
    assert COST_MODES == pricing.COST_MODES
    fields = Settings.model_fields
    assert fields["cost_mode"].default == DEFAULT_COST_MODE
    assert fields["data_dir"].default == DEFAULT_DATA_DIR
    assert fields["prices_file"].default is None
    limits = {type(m).__name__: m for m in fields["runner_id"].metadata}
    assert getattr(limits["MaxLen"], "max_length", None) == MAX_RUNNER_ID


def test_no_environment_gives_the_defaults() -> None:
    with mock.patch.dict(os.environ, {}, clear=True):
        full = Settings()
    assert local_settings({}) == LocalSettings(
        full.runner_id, full.cost_mode, full.prices_file, full.data_dir
    )


_NAMES = [
    "SPENDSTREAM_RUNNER_ID",
    "SPENDSTREAM_COST_MODE",
    "SPENDSTREAM_PRICES_FILE",
    "SPENDSTREAM_DATA_DIR",
    "spendstream_runner_id",
    "Spendstream_Cost_Mode",
    "SPENDSTREAM_data_dir",
    "SPENDSTREAM_BROKER",
    "SPENDSTREAM_PARTITIONS",
    "SPENDSTREAM_RUNNER_KEY",
    "SPENDSTREAM_CACHE_DIR",
    "SPENDSTREAM_NOT_A_FIELD",
    "SPENDSTREAMRUNNER_ID",
    "HOME",
]
_VALUES = [
    "",
    " ",
    "computed",
    "reported",
    "reported-only",
    "Computed",
    "bogus",
    "7",
    "r" * MAX_RUNNER_ID,
    "r" * (MAX_RUNNER_ID + 1),
    "é" * MAX_RUNNER_ID,
    " padded ",
    "/tmp/prices.json",
    "relative/lake",
    "127.0.0.1:9092",
    "ab\udcff",  # the bytes ab\xff in os.environ: not UTF-8
]


def _environment(rng: random.Random) -> dict[str, str]:
    names = rng.sample(_NAMES, rng.randint(0, 4))
    # Mostly the fields this module reads, so that it answers often.
    names += rng.sample(_NAMES[:4], rng.randint(0, 4))
    return {name: rng.choice(_VALUES) for name in names}


def _full(environ: dict[str, str]) -> Settings | None:
    with mock.patch.dict(os.environ, environ, clear=True):
        try:
            return Settings()
        except ValidationError:
            return None


def test_generated_environments_read_as_settings_reads_them() -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    answered = 0
    for case in range(1_500):
        environ = _environment(rng)
        light = local_settings(environ)
        if light is None:
            continue
        answered += 1
        full = _full(environ)
        where = f"seed {seed}, case {case}: {environ!r}"
        assert full is not None, f"Settings refuses what local_settings read ({where})"
        assert (light.runner_id, light.cost_mode, light.prices_file, light.data_dir) == (
            full.runner_id,
            full.cost_mode,
            full.prices_file,
            full.data_dir,
        ), where
    assert answered > 150, f"seed {seed}: local_settings answered only {answered} times"


@pytest.mark.parametrize(
    ("environ", "answers"),
    [
        ({"SPENDSTREAM_COST_MODE": "computed", "SPENDSTREAM_CACHE_DIR": "/c"}, True),
        ({"SPENDSTREAM_BROKER": "127.0.0.1:9092"}, False),  # Settings validates it
        ({"spendstream_runner_id": "r"}, False),  # Settings matches any case
        ({"SPENDSTREAM_RUNNER_ID": ""}, False),  # Settings refuses it
        ({"SPENDSTREAM_COST_MODE": "bogus"}, False),  # Settings refuses it
        ({"SPENDSTREAM_RUNNER_ID": "r" * (MAX_RUNNER_ID + 1)}, False),
        ({"SPENDSTREAM_PRICES_FILE": ""}, False),
        ({"SPENDSTREAM_RUNNER_ID": "ab\udcff"}, False),  # Settings refuses it
    ],
)
def test_what_goes_to_settings(environ: dict[str, str], answers: bool) -> None:
    assert (local_settings(environ) is not None) is answers


def _imports_pydantic(argv: list[str], environ: dict[str, str]) -> tuple[bool, int, str]:
    program = (
        "import sys\n"
        "from spendstream.cli import main\n"
        f"code = main({argv!r})\n"
        "sys.stdout.flush()\n"
        "print('pydantic' in sys.modules, code, file=sys.stderr)\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("SPENDSTREAM_")}
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={**base, "PYTHONPATH": str(REPO), **environ},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    *_, last = done.stderr.strip().splitlines()
    imported, code = last.split()
    return imported == "True", int(code), done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["parse", str(TRANSCRIPT), "--json"],
        ["report", "session", "--json", "--from", str(TRANSCRIPT)],
    ],
)
def test_parse_and_report_go_without_pydantic_unless_the_environment_needs_it(
    argv: list[str], tmp_path: Path
) -> None:
    # A price-table cache of its own (not a field of Settings): the first run builds the
    # table, which imports genai-prices and so pydantic; the next reads the cache.
    cache = {"SPENDSTREAM_CACHE_DIR": str(tmp_path / "cache")}
    assert _imports_pydantic(argv, {**cache, "SPENDSTREAM_COST_MODE": "computed"})[1] == 0
    assert _imports_pydantic(argv, {**cache, "SPENDSTREAM_COST_MODE": "computed"})[:2] == (False, 0)
    assert _imports_pydantic(argv, {**cache, "SPENDSTREAM_BROKER": "127.0.0.1:1"})[:2] == (True, 0)
    imported, code, err = _imports_pydantic(argv, {**cache, "SPENDSTREAM_PARTITIONS": "many"})
    assert (imported, code) == (True, 2)
    assert "invalid SPENDSTREAM_* setting" in err and "partitions" in err
