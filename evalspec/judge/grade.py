"""Grade one answer under a rubric: render, ask the judge n times, read, aggregate, decide.

Shared by the `judge` check and by calibration, so golden examples are judged exactly the way
answers under test are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from ..outcome import Status
from ..plan import CaseSpec, Plan, RubricSpec
from ..response import ModelResponse
from .aggregate import AGGREGATES, Aggregate, aggregate
from .prompt import JudgePrompt, is_compact_judge, reference_for, render_single
from .verdict import (
    REASONING_MAX,
    REASONING_MAX_COMPACT,
    Verdict,
    parse_verdict,
    token_budget,
    verdict_schema,
)

RAW_KEEP = 20_000
"""Characters of an unusable reply kept as evidence; a judge babbling megabytes stays readable."""


@dataclass(frozen=True, slots=True)
class Sample:
    index: int
    verdict: Verdict | None
    error: str | None = None
    """Set when the judge call itself failed (after the runner's retries)."""
    finish_reason: str | None = None
    cached: bool = False

    @property
    def usable(self) -> bool:
        return self.verdict is not None and self.verdict.usable

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sample": self.index, "cached": self.cached}
        if self.error is not None:
            return {**out, "status": "error", "problem": self.error}
        v = self.verdict
        assert v is not None
        out["status"] = "scored" if v.usable else "unusable"
        out["method"] = v.method
        if v.usable:
            out["score"] = v.score
            out["overall"] = v.overall
            out["criteria"] = {k: c.to_json() for k, c in v.criteria.items()}
            if v.reasoning:
                out["reasoning"] = v.reasoning
            if v.notes:
                out["notes"] = list(v.notes)
        else:
            out["problem"] = _problem(self)
            out["raw"] = v.raw[:RAW_KEEP]
            if len(v.raw) > RAW_KEEP:
                out["raw_chars"] = len(v.raw)
        if self.finish_reason:
            out["finish_reason"] = self.finish_reason
        return out


@dataclass(frozen=True, slots=True)
class Grade:
    status: Status
    reason: str
    score: float | None
    evidence: Mapping[str, Any]
    samples: tuple[Sample, ...]
    aggregate: Aggregate | None


def judge_name(rubric: RubricSpec, plan: Plan) -> str | None:
    return rubric.judge or plan.judge


def project_templates(plan: Plan) -> Mapping[str, str]:
    # `Plan.judge_templates` holds the project's `judge_templates/*.j2`, inlined by the compiler.
    return getattr(plan, "judge_templates", None) or {}


async def grade_answer(
    rubric: RubricSpec,
    case: CaseSpec | None,
    answer: str,
    ctx: Any,
    *,
    samples: int | None = None,
    method: str | None = None,
    threshold: float | None = None,
    purpose: str = "judge",
    key_prefix: str = "judge",
) -> Grade:
    """Judge `answer` (the text a model gave for `case`) under `rubric`. `ctx` needs `plan` and
    `generate` (a CheckContext). Never raises for anything the judge replies."""
    n = max(1, int(samples or rubric.samples or 1))
    method = method or rubric.aggregate or "mean"
    threshold = rubric.threshold if threshold is None else float(threshold)
    judge = judge_name(rubric, ctx.plan)
    base: dict[str, Any] = {"rubric": rubric.id, "rubric_hash": rubric.content_hash,
                            "rubric_origin": rubric.origin, "judge": judge,
                            "threshold": threshold, "aggregate": method,
                            "samples_requested": n}
    if method not in AGGREGATES:
        return _grade(Status.ERROR, f"unknown aggregate {method!r}; use one of "
                      + ", ".join(AGGREGATES), base)
    if judge is None:
        return _grade(Status.ERROR, f"no judge model for rubric {rubric.id}: set `judge = …` "
                      "in the spec or on the rubric", base)
    if not answer.strip():
        return _grade(Status.FAIL, "the answer is empty: nothing for the judge to grade", base)

    judge_model = ctx.plan.models.get(judge)
    compact = is_compact_judge(judge_model)
    try:
        prompt = render_single(rubric, case, answer, compact=compact,
                               project_templates=project_templates(ctx.plan))
    except jinja2.TemplateError as exc:
        return _grade(Status.ERROR, f"the judge template failed to render: {exc}", base)
    max_reasoning = REASONING_MAX_COMPACT if compact else REASONING_MAX
    params: dict[str, Any] = {"temperature": rubric.temperature}
    if compact:
        params["max_tokens"] = token_budget(rubric, max_reasoning)
    schema = verdict_schema(rubric, max_reasoning=max_reasoning)
    replies = await asyncio.gather(
        *(ctx.generate(judge, prompt.messages, response_schema=schema, params=params,
                       purpose=purpose, key=f"{key_prefix}:{rubric.id}:{i}") for i in range(n)),
        return_exceptions=True)
    got = tuple(_read(i, reply, rubric) for i, reply in enumerate(replies))
    return _decide(rubric, case, prompt, got, method, threshold, judge, base)


def _read(index: int, reply: Any, rubric: RubricSpec) -> Sample:
    if isinstance(reply, BaseException):
        if not isinstance(reply, Exception):
            raise reply  # cancellation and interrupts are not verdicts
        detail = str(reply).strip() or type(reply).__name__
        return Sample(index, None, f"the judge call failed: {detail[:500]}")
    assert isinstance(reply, ModelResponse)
    return Sample(index, parse_verdict(reply.text, rubric), None, reply.finish_reason,
                  reply.cached)


def _decide(rubric: RubricSpec, case: CaseSpec | None, prompt: JudgePrompt,
            got: tuple[Sample, ...], method: str, threshold: float, judge: str,
            base: dict[str, Any]) -> Grade:
    usable = [s for s in got if s.usable]
    evidence: dict[str, Any] = {
        **base, **prompt.to_evidence(),
        "reference_shown": reference_for(rubric, case) is not None,
        "samples_usable": len(usable),
        "samples": [s.to_json() for s in got],
    }
    bad = [s for s in got if not s.usable]
    if not usable:
        status = Status.ERROR if all(s.error for s in got) else Status.UNSCORED
        what = "failed" if status is Status.ERROR else "unusable"
        reason = (f"no usable verdict from judge {judge}: {len(bad)} of {len(got)} "
                  f"{'call' if len(got) == 1 else 'calls'} {what} ({_problem(bad[0])})")
        return Grade(status, reason, None, evidence, got, None)

    verdicts = [s.verdict for s in usable if s.verdict is not None]
    scores = [v.score for v in verdicts if v.score is not None]
    agg = aggregate(scores, method, threshold)
    evidence["scores"] = scores
    evidence.update({"score": agg.value, "mean": agg.mean, "median": agg.median,
                     "stdev": agg.stdev, "min": agg.min, "max": agg.max})
    if method == "majority":
        evidence["votes_for"] = agg.votes_for
    evidence["criteria"] = _criteria_means(rubric, verdicts)
    status = Status.PASS if agg.passed else Status.FAIL
    reason = _reason(rubric, agg, threshold, judge, len(got))
    if bad:
        reason += (f"; {len(bad)} of {len(got)} judge replies unusable and left out "
                   f"({_problem(bad[0])})")
    return Grade(status, reason, agg.value, evidence, got, agg)


def _reason(rubric: RubricSpec, agg: Aggregate, threshold: float, judge: str,
            requested: int) -> str:
    if agg.n == 1:
        how = ""
    elif agg.method == "majority":
        how = f" (median of {agg.n}; {agg.votes_for} of {agg.n} samples reach {_num(threshold)})"
    else:
        how = f" ({agg.method} of {agg.n})"
    if agg.method == "majority":
        cmp = "majority passes" if agg.passed else "no majority reaches the threshold"
        return f"judge {judge} scored {_num(agg.value)}{how}: {cmp} under {rubric.id}"
    cmp = "≥" if agg.passed else "<"
    return f"judge {judge} scored {_num(agg.value)}{how} {cmp} {_num(threshold)} under {rubric.id}"


def _criteria_means(rubric: RubricSpec, verdicts: list[Verdict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in rubric.criteria:
        scores = [v.criteria[c.name].score for v in verdicts if c.name in v.criteria]
        if scores:
            out[c.name] = {"mean": sum(scores) / len(scores), "scores": scores}
    return out


def _problem(sample: Sample) -> str:
    if sample.error is not None:
        return sample.error
    assert sample.verdict is not None
    problem = sample.verdict.problem or "unusable reply"
    if sample.finish_reason == "length":
        problem += "; the reply was cut off at max_tokens"
    return problem


def _grade(status: Status, reason: str, base: dict[str, Any]) -> Grade:
    return Grade(status, reason, None, base, (), None)


def _num(x: float) -> str:
    return json.dumps(round(x, 2)) if x != int(x) else str(int(x))
