"""`expect judge RUBRIC [>= N] { samples = n  aggregate = mean|median|min|majority }`.

The judge model (the rubric's, else the plan's default) grades the answer under the rubric,
`samples` times, through the runner's `ctx.generate` (same limits, cache and store as the
models under test). The aggregate decides against `min_score`, else the rubric's threshold.
An unusable judge reply is never a score: all unusable -> `unscored`; some unusable -> the
usable ones are aggregated and the reason says how many were left out.
"""

from __future__ import annotations

from ..judge.grade import grade_answer
from ..judge.prompt import answer_text
from ..outcome import CheckResult, Status
from ..plan import CaseSpec, CheckSpec
from ..response import ModelResponse
from .base import CheckContext, register


@register("judge")
async def judge_check(spec: CheckSpec, case: CaseSpec, response: ModelResponse,
                      ctx: CheckContext) -> CheckResult:
    rubric_id = spec.params.get("rubric")
    rubric = ctx.plan.rubrics.get(rubric_id) if isinstance(rubric_id, str) else None
    if rubric is None:
        return CheckResult("judge", Status.ERROR, f"the plan has no rubric {rubric_id!r}",
                           {"rubric": rubric_id}, spec.label)
    grade = await grade_answer(
        rubric, case, answer_text(response), ctx,
        samples=spec.params.get("samples"),
        method=spec.params.get("aggregate"),
        threshold=spec.params.get("min_score"),
    )
    return CheckResult("judge", grade.status, grade.reason, grade.evidence, spec.label,
                       grade.score)
