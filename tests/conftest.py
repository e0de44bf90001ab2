"""Shared test fixtures. The real broker is started lazily, only for tests that ask for it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures" / "real"
_CACHE_DIR = "SPENDSTREAM_CACHE_DIR"
_cache_dir_key = pytest.StashKey[tuple[str | None, str]]()  # (the value before, the session's)


def pytest_configure(config: pytest.Config) -> None:
    """The price table cache (schemas/price_cache.py) of this session, in a temporary
    directory: tests neither read nor write the user's ~/.cache/spendstream. Set here, not in
    a fixture, because some test modules build the default table at import (collection)."""
    config.stash[_cache_dir_key] = (os.environ.get(_CACHE_DIR), tempfile.mkdtemp(prefix="spendstream-cache-"))
    os.environ[_CACHE_DIR] = config.stash[_cache_dir_key][1]


def pytest_unconfigure(config: pytest.Config) -> None:
    previous, directory = config.stash[_cache_dir_key]
    if previous is None:
        os.environ.pop(_CACHE_DIR, None)
    else:
        os.environ[_CACHE_DIR] = previous
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def real_fixtures() -> Path:
    """The real CLI captures beside the repo (../shared/fixtures/real), see SOURCES.md there."""
    if not SHARED_FIXTURES.exists():
        pytest.fail(f"real fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES
