"""Pairwise comparison under a rubric, with the position swap MT-Bench recommends.

For every pair of models the judge sees both orders: (a, b) and (b, a). A model wins only when
both orders prefer it; when they disagree the pair is a tie (and `consistent` is false), so a
judge's habit of picking the first (or the second) answer cannot crown a winner. With n judge
samples per order, each order's preference is the majority of its usable verdicts.

`preferred` in each verdict is model-relative: `a` means `model_a`'s answer, whichever position
it held in that order.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from ..plan import CaseSpec, CheckSpec, RubricSpec
from ..response import ModelResponse
from .grade import RAW_KEEP, judge_name, project_templates
from .prompt import answer_text, is_compact_judge, render_pairwise
from .verdict import (
    REASONING_MAX,
    REASONING_MAX_COMPACT,
    PairVerdict,
    pairwise_schema,
    parse_pair_verdict,
)


@dataclass(frozen=True, slots=True)
class PairVerdictRecord:
    order: str
    """`ab`: model_a's answer shown first; `ba`: model_b's first."""
    preferred: str | None
    """`a`, `b` (model-relative), `tie`, or None when the reply was unusable or the call failed."""
    raw: str
    reasoning: str
    problem: str | None = None
    call_failed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"order": self.order, "preferred": self.preferred, "raw": self.raw[:RAW_KEEP],
                "reasoning": self.reasoning}


@dataclass(frozen=True, slots=True)
class PairwiseResult:
    case_id: str
    sample: int
    rubric: str
    model_a: str
    model_b: str
    winner: str | None
    """A model name, `tie`, or None when unscored or errored."""
    consistent: bool | None
    status: str
    """`pass` (a verdict was reached), `unscored` (a judge reply unusable), `error`."""
    reason: str
    verdicts: tuple[PairVerdictRecord, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "sample": self.sample, "rubric": self.rubric,
            "model_a": self.model_a, "model_b": self.model_b, "winner": self.winner,
            "consistent": self.consistent, "status": self.status, "reason": self.reason,
            "verdicts": [v.to_json() for v in self.verdicts],
        }


async def run_pairwise(spec: CheckSpec, case: CaseSpec, sample: int,
                       responses: Mapping[str, ModelResponse], ctx: Any) -> list[PairwiseResult]:
    """Compare every pair of models on one sample of `case`. `responses` maps model names to
    their answers (a model whose call failed is simply absent). Never raises for judge output."""
    rubric_id = str(spec.params.get("rubric"))
    models = list(spec.params.get("models") or responses)
    pairs = list(itertools.combinations(dict.fromkeys(models), 2))
    rubric = ctx.plan.rubrics.get(rubric_id)
    judge = judge_name(rubric, ctx.plan) if rubric is not None else None

    def error(a: str, b: str, reason: str) -> PairwiseResult:
        return PairwiseResult(case.id, sample, rubric_id, a, b, None, None, "error", reason)

    if rubric is None:
        return [error(a, b, f"the plan has no rubric {rubric_id!r}") for a, b in pairs]
    if judge is None:
        return [error(a, b, f"no judge model for rubric {rubric_id}: set `judge = …`")
                for a, b in pairs]
    n = max(1, int(spec.params.get("samples") or rubric.samples or 1))
    jobs = []
    for a, b in pairs:
        missing = [m for m in (a, b) if m not in responses]
        if missing:
            jobs.append(_done(error(a, b, f"no answer from {' and '.join(missing)} for this "
                                          "sample (the model call failed)")))
        else:
            jobs.append(_compare(rubric, case, sample, a, b, responses, n, judge, ctx))
    return list(await asyncio.gather(*jobs))


async def _done(result: PairwiseResult) -> PairwiseResult:
    return result


async def _compare(rubric: RubricSpec, case: CaseSpec, sample: int, a: str, b: str,
                   responses: Mapping[str, ModelResponse], n: int, judge: str,
                   ctx: Any) -> PairwiseResult:
    compact = is_compact_judge(ctx.plan.models.get(judge))
    templates = project_templates(ctx.plan)
    text = {m: answer_text(responses[m]) for m in (a, b)}
    max_reasoning = REASONING_MAX_COMPACT if compact else REASONING_MAX
    schema = pairwise_schema(max_reasoning=max_reasoning)
    params: dict[str, Any] = {"temperature": rubric.temperature}
    if compact:
        params["max_tokens"] = 64 + max_reasoning // 3 + 24
    orders = {"ab": (a, b), "ba": (b, a)}
    try:
        prompts = {order: render_pairwise(rubric, case, text[first], text[second],
                                          compact=compact, project_templates=templates)
                   for order, (first, second) in orders.items()}
    except jinja2.TemplateError as exc:
        return PairwiseResult(case.id, sample, rubric.id, a, b, None, None, "error",
                              f"the judge template failed to render: {exc}")
    calls = []
    for i in range(n):
        for order, prompt in prompts.items():
            calls.append((order, ctx.generate(
                judge, prompt.messages, response_schema=schema, params=params,
                purpose="pairwise", key=f"pairwise:{rubric.id}:{a}:{b}:{order}:{i}")))
    replies = await asyncio.gather(*(c for _, c in calls), return_exceptions=True)
    records = [_record(order, reply) for (order, _), reply in zip(calls, replies, strict=True)]
    return _decide(case, sample, rubric, a, b, records)


def _record(order: str, reply: Any) -> PairVerdictRecord:
    if isinstance(reply, BaseException):
        if not isinstance(reply, Exception):
            raise reply
        detail = (str(reply).strip() or type(reply).__name__)[:500]
        return PairVerdictRecord(order, None, "", "", f"the judge call failed: {detail}", True)
    verdict: PairVerdict = parse_pair_verdict(reply.text)
    if verdict.preferred is None:
        return PairVerdictRecord(order, None, verdict.raw, verdict.reasoning, verdict.problem)
    # Map the position the judge chose back to the model that held it in this order.
    if verdict.preferred == "tie":
        preferred = "tie"
    elif order == "ab":
        preferred = "a" if verdict.preferred == "A" else "b"
    else:
        preferred = "b" if verdict.preferred == "A" else "a"
    return PairVerdictRecord(order, preferred, verdict.raw, verdict.reasoning)


def _order_preference(records: Sequence[PairVerdictRecord]) -> str | None:
    """The majority of an order's usable verdicts; a split vote is a tie; None if none usable."""
    usable = [r.preferred for r in records if r.preferred is not None]
    if not usable:
        return None
    choice, count = Counter(usable).most_common(1)[0]
    return choice if count * 2 > len(usable) else "tie"


def _decide(case: CaseSpec, sample: int, rubric: RubricSpec, a: str, b: str,
            records: list[PairVerdictRecord]) -> PairwiseResult:
    by_order = {o: [r for r in records if r.order == o] for o in ("ab", "ba")}
    prefs = {o: _order_preference(rs) for o, rs in by_order.items()}

    def result(winner: str | None, consistent: bool | None, status: str,
               reason: str) -> PairwiseResult:
        return PairwiseResult(case.id, sample, rubric.id, a, b, winner, consistent, status,
                              reason, tuple(records))

    missing = [o for o, p in prefs.items() if p is None]
    if missing:
        broken = [r for o in missing for r in by_order[o]]
        status = "error" if all(r.call_failed for r in broken) else "unscored"
        first = next((r.problem for r in broken if r.problem), "unusable reply")
        return result(None, None, status, f"no usable verdict with "
                      f"{' and '.join(_order_label(o, a, b) for o in missing)}: {first}")
    name = {"a": a, "b": b, "tie": "tie"}
    ab, ba = prefs["ab"], prefs["ba"]
    if ab == ba:
        if ab == "tie":
            return result("tie", True, "pass", "tie: the judge found neither answer better, "
                          "in both orders")
        return result(name[ab], True, "pass", f"{name[ab]} wins: preferred in both orders")
    return result("tie", False, "pass",
                  f"tie: the orders disagree ({_order_label('ab', a, b)}: {name[ab]}; "
                  f"{_order_label('ba', a, b)}: {name[ba]}), a sign of position bias")


def _order_label(order: str, a: str, b: str) -> str:
    return f"{a} first" if order == "ab" else f"{b} first"


# -- summaries ---------------------------------------------------------------------------------

def summarise_pairwise(records: Iterable[PairwiseResult | Mapping[str, Any]]) -> dict[Any, Any]:
    """Win / tie / loss per pair of models (from the first model's side), plus the judge's
    position-consistency rate: the share of decided comparisons whose verdict survived the
    swap (MT-Bench reports 65% for GPT-4). `first_position_rate` is the share of usable
    verdicts that picked whichever answer was shown first (0.5 for an unbiased judge that
    never says tie)."""
    table: dict[tuple[str, str], dict[str, int]] = {}
    consistent = decided = 0
    first = picks = 0
    for rec in records:
        d = rec.to_json() if isinstance(rec, PairwiseResult) else rec
        a, b = d["model_a"], d["model_b"]
        key, flip = ((b, a), True) if (b, a) in table else ((a, b), False)
        row = table.setdefault(key, {"win": 0, "tie": 0, "loss": 0, "unscored": 0, "error": 0})
        winner = d.get("winner")
        if d.get("status") == "error":
            row["error"] += 1
        elif winner is None:
            row["unscored"] += 1
        elif winner == "tie":
            row["tie"] += 1
        else:
            won = winner == a
            row["win" if won != flip else "loss"] += 1
        if d.get("consistent") is not None:
            decided += 1
            consistent += bool(d["consistent"])
        for v in d.get("verdicts", ()):
            if v.get("preferred") in ("a", "b"):
                picks += 1
                shown_first = "a" if v.get("order") == "ab" else "b"
                first += v["preferred"] == shown_first
    out: dict[Any, Any] = dict(table)
    out["position_consistency"] = consistent / decided if decided else None
    out["first_position_rate"] = first / picks if picks else None
    return out
