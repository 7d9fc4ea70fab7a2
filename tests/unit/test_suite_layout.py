"""The suite cannot lose a test silently: every file that holds tests is one pytest
collects (the markers are checked at collection, tests/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
TESTS = Path(__file__).resolve().parents[1]


def test_every_file_that_defines_tests_is_named_for_collection() -> None:
    defines = re.compile(r"^(async )?def test_", re.MULTILINE)
    hidden = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
              if defines.search(p.read_text()) and not p.name.startswith("test_")]
    assert hidden == [], f"tests pytest would never collect: {hidden}"


def test_every_test_file_names_its_suite() -> None:
    unmarked = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                if "pytestmark" not in p.read_text() and "@pytest.mark." not in p.read_text()]
    assert unmarked == []
