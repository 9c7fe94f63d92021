"""Test data helpers for the report tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SEED_RESULTS = FIXTURES / "seed_two_models.json"

# Model output is hostile: markup, a fence, table pipes, NUL and a control character.
HOSTILE = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           '</pre></details></article>| pipe ``` fence\x00\x07 ]]> & done')


def result(doc: dict[str, Any], case_id: str, model: str) -> dict[str, Any]:
    return next(r for r in doc["results"] if r["case_id"] == case_id and r["model"] == model)
