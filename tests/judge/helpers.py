"""A scripted CheckContext for judge tests: `generate` answers from a function of the prompt.

This fakes the check's own interface (the runner's context), never the openai client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from evalspec.plan import (
    CaseSpec,
    CheckSpec,
    Criterion,
    Message,
    ModelSpec,
    Plan,
    RubricSpec,
)
from evalspec.response import ModelResponse

Responder = Callable[[str, str], "str | Exception"]
"""(prompt text, key) -> the judge's reply, or an exception to raise (a failed call)."""


@dataclass
class FakeContext:
    plan: Plan
    respond: Responder
    model: str = "llama"
    sample: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def generate(self, model: str, messages: Sequence[Message], *,
                       params: Mapping[str, Any] | None = None,
                       response_schema: Mapping[str, Any] | None = None,
                       purpose: str = "judge", key: str = "") -> ModelResponse:
        prompt = "\n".join(m.content for m in messages)
        self.calls.append({"model": model, "messages": list(messages), "params": dict(params or {}),
                           "response_schema": response_schema, "purpose": purpose, "key": key,
                           "prompt": prompt})
        reply = self.respond(prompt, key)
        if isinstance(reply, Exception):
            raise reply
        return ModelResponse(text=reply, model=model, finish_reason="stop")


def rubric(**overrides: Any) -> RubricSpec:
    base = RubricSpec(
        id="rubrics.writing", name="Writing", description="How vivid the writing is.",
        scale_min=1, scale_max=5, pass_fail=False, threshold=4,
        criteria=(Criterion("imagery", "Concrete images.", 2.0,
                            {"1": "clichés", "3": "some images", "5": "vivid"}),
                  Criterion("structure", "A clear progression.", 1.0, {})),
        origin="specs/rubrics.eval:3", content_hash="abcdef0123456789")
    return replace(base, **overrides)


def pass_fail_rubric(**overrides: Any) -> RubricSpec:
    return rubric(id="rubrics.follows", name="Follows", scale_min=0, scale_max=1,
                  pass_fail=True, threshold=1,
                  criteria=(Criterion("constraints", "Every constraint met.", 1.0,
                                      {"pass": "all met", "fail": "one broken"}),), **overrides)


def case(**overrides: Any) -> CaseSpec:
    base = CaseSpec(id="writing/S8", suite="writing", title="Alps sunrise", tags=("S8",),
                    messages=(Message("user", "Description of the sunrise scenery in the Alps"),),
                    params={}, samples=1, models=("llama", "gpt4o"), checks=(),
                    location="specs/seed.eval:40:5")
    return replace(base, **overrides)


def plan(*rubrics: RubricSpec, judge: str | None = "judge", cases: Sequence[CaseSpec] = (),
         local_judge: bool = False) -> Plan:
    models = {
        "llama": ModelSpec("llama", "openai", "llama-3.1-405b"),
        "gpt4o": ModelSpec("gpt4o", "openai", "gpt-4o"),
        "judge": ModelSpec("judge", "local" if local_judge else "openai", "judge-model"),
    }
    rs = rubrics or (rubric(),)
    return Plan(source="specs/seed.eval", models=models, judge=judge,
                rubrics={r.id: r for r in rs}, tools={}, cases=tuple(cases))


def judge_spec(rubric_id: str = "rubrics.writing", **params: Any) -> CheckSpec:
    full = {"rubric": rubric_id, "min_score": None, "samples": None, "aggregate": None, **params}
    return CheckSpec("judge", full, f"judge {rubric_id}", "specs/seed.eval:44:5")


def verdict(imagery: Any, structure: Any, overall: Any | None = None) -> str:
    """A well-formed verdict for `rubric()` as JSON text."""
    out: dict[str, Any] = {"criteria": {
        "imagery": {"reasoning": "images noted", "score": imagery},
        "structure": {"reasoning": "order noted", "score": structure}}}
    out["score"] = imagery if overall is None else overall
    return json.dumps(out)


def answers_in(prompt: str) -> dict[str, str]:
    """The texts between the documented delimiters of a rendered judge prompt."""
    return {m.group(1): m.group(2) for m in
            re.finditer(r"<(answer(?:_a|_b)?)>\n(.*?)\n</\1>", prompt, re.DOTALL)}
