"""bench/spendstream_side.py ``compile_project``: the timed commands import bytecode, as installed."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest

from bench import spendstream_side


def test_every_module_gets_its_bytecode_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    for module in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
        (package / module).write_text("VALUE = 1\n")
    monkeypatch.setattr(spendstream_side, "REPO", tmp_path)
    monkeypatch.setattr(spendstream_side, "PACKAGES", ("pkg",))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # as PYTHONDONTWRITEBYTECODE=1 sets it
    assert spendstream_side.compile_project() is True
    for module in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
        cached = Path(importlib.util.cache_from_source(str(package / module)))
        assert cached.is_file(), module
    assert spendstream_side.compile_project() is False  # nothing left to compile


def test_the_project_packages_are_the_installed_ones() -> None:
    repo = spendstream_side.REPO
    assert all((repo / name / "__init__.py").is_file() for name in spendstream_side.PACKAGES)
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    assert set(spendstream_side.PACKAGES) == set(project["tool"]["importlinter"]["root_packages"])
