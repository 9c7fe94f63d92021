"""Calibration: does the judge agree with the golden examples people scored?

Each rubric's examples are graded exactly as answers under test are (same template, judge,
samples and aggregate), then compared with their golden scores:

- exact: the share of examples whose aggregate rounds to the golden score (|got - gold| < 0.5);
- within one: the share with |got - gold| <= 1 (for pass/fail rubrics this is always 1, so
  exact agreement is the figure that counts there);
- Spearman's rho between golden and judged scores over the scored examples (nan, with a note,
  when either side is constant or fewer than two examples were scored).

An example the judge could not score counts as a disagreement in exact and within-one: a judge
that cannot answer is not calibrated. `min_agreement` on a rubric is checked against
within-one agreement (exact agreement for pass/fail rubrics).
"""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..plan import CaseSpec, Message, Plan, RubricSpec
from .grade import Grade, grade_answer, judge_name


@dataclass(frozen=True, slots=True)
class ExampleResult:
    index: int
    expected: float
    got: float | None
    status: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "expected": self.expected, "got": self.got,
                "status": self.status, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Agreement:
    n: int
    scored: int
    exact: float
    within_one: float
    spearman: float
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "scored": self.scored, "exact": self.exact,
                "within_one": self.within_one,
                "spearman": None if math.isnan(self.spearman) else self.spearman,
                "notes": list(self.notes)}


@dataclass(frozen=True, slots=True)
class Calibration:
    rubric: str
    rubric_hash: str
    judge: str | None
    agreement: Agreement | None
    """None when the rubric has no golden examples."""
    examples: tuple[ExampleResult, ...] = ()
    min_agreement: float | None = None
    pass_fail: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def gated_figure(self) -> float | None:
        if self.agreement is None:
            return None
        return self.agreement.exact if self.pass_fail else self.agreement.within_one

    @property
    def meets(self) -> bool | None:
        """Whether the rubric reaches its `min_agreement`; None when it sets none."""
        if self.min_agreement is None:
            return None
        figure = self.gated_figure
        return figure is not None and figure >= self.min_agreement

    def to_json(self) -> dict[str, Any]:
        return {"rubric": self.rubric, "rubric_hash": self.rubric_hash, "judge": self.judge,
                "agreement": None if self.agreement is None else self.agreement.to_json(),
                "min_agreement": self.min_agreement, "meets": self.meets,
                "examples": [e.to_json() for e in self.examples], "notes": list(self.notes)}


def agreement(expected: Sequence[float], got: Sequence[float | None]) -> Agreement:
    """Agreement between golden scores and judged ones (None = the judge gave no score)."""
    if len(expected) != len(got):
        raise ValueError("expected and got differ in length")
    n = len(expected)
    pairs = [(e, g) for e, g in zip(expected, got, strict=True) if g is not None]
    notes: list[str] = []
    if len(pairs) < n:
        notes.append(f"{n - len(pairs)} of {n} examples got no usable verdict and count as "
                     "disagreements")
    exact = sum(1 for e, g in pairs if abs(g - e) < 0.5) / n if n else math.nan
    within = sum(1 for e, g in pairs if abs(g - e) <= 1 + 1e-9) / n if n else math.nan
    rho = math.nan
    if len(pairs) < 2:
        notes.append("Spearman needs at least two scored examples")
    elif len({e for e, _ in pairs}) == 1:
        notes.append("Spearman is undefined: every golden score is the same")
    elif len({g for _, g in pairs}) == 1:
        notes.append("Spearman is undefined: the judge gave every example the same score")
    else:
        from scipy.stats import spearmanr  # scipy is slow to import; only calibration needs it

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = float(spearmanr([e for e, _ in pairs], [g for _, g in pairs]).statistic)
    return Agreement(n, len(pairs), exact, within, rho, tuple(notes))


def example_case(rubric: RubricSpec, index: int, prompt: str | None) -> CaseSpec:
    """A stand-in case for a golden example, so it is rendered like an answer under test."""
    messages = (Message("user", prompt),) if prompt else ()
    return CaseSpec(id=f"calibrate/{rubric.id}#{index}", suite="calibrate",
                    title=f"golden example {index} of {rubric.id}", tags=(), messages=messages,
                    params={}, samples=1, models=(), checks=())


async def calibrate_rubric(rubric: RubricSpec, ctx: Any) -> Calibration:
    """Grade every golden example of `rubric` with its judge. `ctx` needs `plan` and
    `generate`, as a CheckContext does."""
    judge = judge_name(rubric, ctx.plan)
    base = {"rubric": rubric.id, "rubric_hash": rubric.content_hash, "judge": judge,
            "min_agreement": rubric.min_agreement, "pass_fail": rubric.pass_fail}
    if not rubric.examples:
        return Calibration(**base, agreement=None, notes=("no golden examples",))
    grades: list[Grade] = await asyncio.gather(*(
        grade_answer(rubric, example_case(rubric, i, ex.prompt), ex.text, ctx,
                     purpose="calibrate", key_prefix=f"calibrate:{i}")
        for i, ex in enumerate(rubric.examples)))
    examples = tuple(ExampleResult(i, float(ex.score), g.score, g.status.value, g.reason)
                     for i, (ex, g) in enumerate(zip(rubric.examples, grades, strict=True)))
    agreed = agreement([e.expected for e in examples], [e.got for e in examples])
    return Calibration(**base, agreement=agreed, examples=examples)


async def calibrate_plan(plan: Plan, ctx: Any,
                         rubric_ids: Iterable[str] | None = None) -> list[Calibration]:
    wanted = list(rubric_ids) if rubric_ids else sorted(plan.rubrics)
    unknown = [r for r in wanted if r not in plan.rubrics]
    if unknown:
        raise KeyError(f"no rubric named {', '.join(unknown)}; the plan has "
                       f"{', '.join(sorted(plan.rubrics)) or 'none'}")
    return list(await asyncio.gather(*(calibrate_rubric(plan.rubrics[r], ctx) for r in wanted)))


def format_table(calibrations: Sequence[Calibration]) -> str:
    """A plain-text table of the figures, one rubric a row, for the terminal."""
    head = ("rubric", "judge", "examples", "scored", "exact", "within 1", "spearman", "gate")
    rows = [head]
    for c in calibrations:
        a = c.agreement
        gate = "-" if c.meets is None else (
            f"{'ok' if c.meets else 'BELOW'} (min {c.min_agreement:.2f})")
        if a is None:
            rows.append((c.rubric, c.judge or "-", "0", "-", "-", "-", "-", gate))
            continue
        rho = "nan" if math.isnan(a.spearman) else f"{a.spearman:+.2f}"
        rows.append((c.rubric, c.judge or "-", str(a.n), str(a.scored), f"{a.exact:.2f}",
                     f"{a.within_one:.2f}", rho, gate))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    for c in calibrations:
        notes = list(c.notes) + (list(c.agreement.notes) if c.agreement else [])
        lines.extend(f"note: {c.rubric}: {n}" for n in notes)
    return "\n".join(lines)
