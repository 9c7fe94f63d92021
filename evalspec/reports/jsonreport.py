"""The JSON report: the combined results documents plus the computed summary (docs/reports.md)."""

from __future__ import annotations

import json
import math
from typing import Any

from .model import Report


def _finite(value: Any) -> Any:
    """NaN and infinities (a check may have extracted one) as null: strict JSON has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def render(report: Report) -> str:
    return json.dumps(_finite(report.to_json()), indent=2, ensure_ascii=False,
                      allow_nan=False, default=str) + "\n"
