"""Shared test fixtures. The real broker is started lazily, only for tests that ask for it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures" / "real"


@pytest.fixture(scope="session")
def real_fixtures() -> Path:
    """The real CLI captures beside the repo (../shared/fixtures/real), see SOURCES.md there."""
    if not SHARED_FIXTURES.exists():
        pytest.fail(f"real fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES
