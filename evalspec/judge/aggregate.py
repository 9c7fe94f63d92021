"""Many judge samples, one decision.

A judge sampled n times gives n scores. We always report mean, median and spread, and decide on
the aggregate the spec names:

- `mean`, `median`, `min`: pass when that statistic reaches the threshold;
- `majority`: pass when more than half of the samples reach the threshold on their own (the
  reported score is then the median, which agrees with the vote for an odd n).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

AGGREGATES = ("mean", "median", "min", "majority")
# Scores are means of small integers; this keeps 3.9999999 from failing a threshold of 4.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Aggregate:
    method: str
    value: float
    """The score the decision is made on (the median for `majority`)."""
    passed: bool
    n: int
    mean: float
    median: float
    stdev: float
    """The sample standard deviation; 0 for a single sample."""
    min: float
    max: float
    votes_for: int
    """How many samples reached the threshold on their own."""

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "value": self.value, "passed": self.passed, "n": self.n,
                "mean": self.mean, "median": self.median, "stdev": self.stdev,
                "min": self.min, "max": self.max, "votes_for": self.votes_for}


def aggregate(scores: Sequence[float], method: str, threshold: float) -> Aggregate:
    """Aggregate usable scores (at least one) and decide against `threshold`."""
    if not scores:
        raise ValueError("aggregate() needs at least one score")
    if method not in AGGREGATES:
        raise ValueError(f"unknown aggregate {method!r}; expected one of {', '.join(AGGREGATES)}")
    xs = [float(s) for s in scores]
    mean = statistics.fmean(xs)
    median = float(statistics.median(xs))
    stdev = statistics.stdev(xs) if len(xs) > 1 else 0.0
    votes = sum(1 for x in xs if x >= threshold - _EPS)
    if method == "majority":
        value, passed = median, votes * 2 > len(xs)
    else:
        value = {"mean": mean, "median": median, "min": min(xs)}[method]
        passed = value >= threshold - _EPS
    return Aggregate(method, value, passed, len(xs), mean, median, stdev, min(xs), max(xs), votes)
