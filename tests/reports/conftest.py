"""Fixtures shared by the report tests: the hand-written two-model results of the seed spec."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ._data import SEED_RESULTS


@pytest.fixture(scope="session")
def _seed_doc() -> dict[str, Any]:
    return json.loads(SEED_RESULTS.read_text(encoding="utf-8"))


@pytest.fixture
def seed(_seed_doc: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy of the seed results that a test may change."""
    return copy.deepcopy(_seed_doc)
