"""Statistics for comparing models: bootstrap confidence intervals and paired tests.

Eval suites are small (tens of cases), so every figure here comes with an honest account of
what the data can show: intervals are bootstrapped from a seeded generator (the same input
always prints the same interval), paired tests are exact where they can be, and a test that
could not reach significance even in the most lopsided outcome says so instead of reporting a
bare "no difference".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as _st

DEFAULT_ALPHA = 0.05
DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 9999
DEFAULT_SEED = 20240723
"""Fixed so that a report rendered twice from the same results shows the same intervals."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its bootstrap confidence interval."""

    value: float | None
    """None when there was nothing to estimate from (n == 0)."""
    low: float | None
    high: float | None
    n: int
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def degenerate(self) -> bool:
        """All observations were equal, so resampling cannot show any spread.

        With 9 cases that all pass, the interval [1, 1] says nothing about the next case; a
        report should present it as "all n" rather than as certainty.
        """
        return self.n > 0 and self.low == self.high

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n,
                "confidence": self.confidence}


def bootstrap_mean(values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE,
                   n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Estimate:
    """The mean of `values` with a percentile bootstrap interval.

    Percentile rather than BCa: BCa's acceleration estimate is unstable (and often NaN) for the
    handful of discrete values an eval produces, while the percentile interval stays defined.
    """
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    if n == 0:
        return Estimate(None, None, None, 0, confidence)
    mean = float(data.mean())
    if n == 1 or np.all(data == data[0]):
        return Estimate(mean, mean, mean, n, confidence)
    res = _st.bootstrap((data,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                        method="percentile", vectorized=True, rng=np.random.default_rng(seed))
    return Estimate(mean, float(res.confidence_interval.low),
                    float(res.confidence_interval.high), n, confidence)


def pass_rate(outcomes: Sequence[bool], **kwargs: Any) -> Estimate:
    """The share of True in `outcomes`, with a bootstrap interval."""
    return bootstrap_mean([1.0 if o else 0.0 for o in outcomes], **kwargs)


def paired_difference(a: Sequence[float], b: Sequence[float], *,
                      confidence: float = DEFAULT_CONFIDENCE,
                      n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = DEFAULT_SEED) -> Estimate:
    """mean(b) - mean(a) over paired observations, resampling the pairs together.

    Resampling pairs (not each side on its own) keeps the correlation between two runs on the
    same cases, which is what makes a paired interval much narrower than an unpaired one.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    return bootstrap_mean(diffs, confidence=confidence, n_resamples=n_resamples, seed=seed)


@dataclass(frozen=True, slots=True)
class PairedTest:
    """A paired two-sided test of model A against model B on the same cases."""

    test: str
    """`mcnemar-exact` (pass / fail) or `wilcoxon` (scores)."""
    name_a: str
    name_b: str
    n: int
    """Pairs compared."""
    informative: int
    """Pairs that can tell the models apart: discordant pass/fail, or non-tied scores."""
    a_better: int
    b_better: int
    p_value: float
    min_p_value: float
    """The smallest p-value this many informative pairs could give (all going one way)."""
    alpha: float = DEFAULT_ALPHA
    statistic: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def underpowered(self) -> bool:
        """Even the most lopsided outcome could not have been significant."""
        return self.min_p_value >= self.alpha

    @property
    def better(self) -> str | None:
        """The model the test favours, when the difference is significant."""
        if not self.significant:
            return None
        return self.name_b if self.b_better > self.a_better else self.name_a

    @property
    def verdict(self) -> str:
        p = format_p(self.p_value)
        if self.significant:
            worse = self.name_a if self.better == self.name_b else self.name_b
            return f"{self.better} better than {worse} ({p}, α = {self.alpha:g})"
        return f"no significant difference ({p}, α = {self.alpha:g})"

    @property
    def warning(self) -> str | None:
        if not self.underpowered:
            return None
        unit = "discordant pairs" if self.test == "mcnemar-exact" else "non-tied score pairs"
        need = min_informative_pairs(self.alpha)
        if self.informative == 0:
            return (f"no {unit} among {self.n}: the data cannot tell the models apart; "
                    f"at least {need} are needed for α = {self.alpha:g}")
        return (f"too few {unit} ({self.informative}) to tell the models apart: even if one "
                f"model had won all of them, p would be {format_p(self.min_p_value, bare=True)}"
                f" ≥ α = {self.alpha:g}; at least {need} are needed")

    def to_json(self) -> dict[str, Any]:
        return {
            "test": self.test, "model_a": self.name_a, "model_b": self.name_b, "n": self.n,
            "informative": self.informative, "a_better": self.a_better,
            "b_better": self.b_better, "statistic": self.statistic, "p_value": self.p_value,
            "min_p_value": self.min_p_value, "alpha": self.alpha,
            "significant": self.significant, "better": self.better, "verdict": self.verdict,
            "warning": self.warning,
        }


def min_informative_pairs(alpha: float = DEFAULT_ALPHA) -> int:
    """How many one-sided informative pairs an exact two-sided test needs to reach `alpha`.

    The most extreme outcome of n discordant pairs has p = 2 * 0.5**n, so n > log2(2 / alpha).
    """
    return max(1, math.floor(math.log2(2.0 / alpha)) + 1)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool], *, name_a: str = "A", name_b: str = "B",
                  alpha: float = DEFAULT_ALPHA) -> PairedTest:
    """Exact McNemar test on paired pass / fail outcomes.

    Only the discordant pairs (one passes, the other fails) carry information; under the null
    hypothesis each goes either way with probability 1/2, so the test is a binomial test on them.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    discordant = a_only + b_only
    if discordant == 0:
        p, min_p = 1.0, 1.0
    else:
        p = float(_st.binomtest(min(a_only, b_only), discordant, 0.5).pvalue)
        min_p = float(_st.binomtest(0, discordant, 0.5).pvalue)
    return PairedTest("mcnemar-exact", name_a, name_b, len(a), discordant, a_only, b_only,
                      min(p, 1.0), min(min_p, 1.0), alpha, float(min(a_only, b_only)))


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float], *, name_a: str = "A",
                         name_b: str = "B", alpha: float = DEFAULT_ALPHA) -> PairedTest:
    """Wilcoxon signed-rank test on paired scores (e.g. judge scores of the same cases).

    Tied pairs (difference 0) are dropped first (Wilcoxon's own treatment); when every pair is
    tied there is nothing to test and p is 1. Judge scales are coarse, so |differences| tie
    often; scipy then falls back from the exact distribution to the normal approximation.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    d = d[~np.isnan(d)]
    nonzero = d[d != 0]
    a_better = int((nonzero < 0).sum())
    b_better = int((nonzero > 0).sum())
    if nonzero.size == 0:
        return PairedTest("wilcoxon", name_a, name_b, len(a), 0, 0, 0, 1.0, 1.0, alpha, None)
    with warnings.catch_warnings():
        # Small-sample and tie warnings are reported through `warning` instead.
        warnings.simplefilter("ignore")
        res = _st.wilcoxon(nonzero)
        # The same magnitudes all on one side: the best this data could have done.
        best = _st.wilcoxon(np.abs(nonzero))
    return PairedTest("wilcoxon", name_a, name_b, len(a), int(nonzero.size), a_better, b_better,
                      float(res.pvalue), float(best.pvalue), alpha, float(res.statistic))


def format_p(p: float, *, bare: bool = False) -> str:
    """`p = 0.031` / `p < 0.001`; with `bare`, the number only."""
    if p < 0.001:
        text = "< 0.001"
        return text if bare else f"p {text}"
    text = f"{p:.3f}" if p < 0.1 else f"{p:.2f}"
    return text if bare else f"p = {text}"


def format_interval(est: Estimate, *, percent: bool = False, digits: int = 2,
                    signed: bool = False) -> str:
    """`0.78 [0.44, 1.00]`, `78% [44–100%]` with `percent`, `+25 pp [+0, +62]` with both
    `percent` and `signed`; an em dash when there is nothing to estimate.

    A degenerate interval (every observation equal) is left out: `[1.00, 1.00]` would read as
    certainty when it only means the resamples could not vary.
    """
    if est.value is None or est.low is None or est.high is None:
        return "—"
    sign = "+" if signed else ""
    if percent and signed:
        point, lo, hi = (f"{v * 100:{sign}.0f}" for v in (est.value, est.low, est.high))
        return f"{point} pp" if est.degenerate else f"{point} pp [{lo}, {hi}]"
    if percent:
        point = f"{est.value * 100:.0f}%"
        return point if est.degenerate else (
            f"{point} [{est.low * 100:.0f}–{est.high * 100:.0f}%]")
    point = f"{est.value:{sign}.{digits}f}"
    if est.degenerate:
        return point
    return f"{point} [{est.low:{sign}.{digits}f}, {est.high:{sign}.{digits}f}]"
