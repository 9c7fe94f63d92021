"""Compile-time warnings where the LLM-as-judge literature shows a trap.

`judge_lints(plan)` returns `(location, message)` pairs; the compiler reports them as warnings
(they never fail a compile). Locations are the check's `file:line:col`, or the rubric's origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..plan import CaseSpec, CheckSpec, Plan, RubricSpec
from .prompt import template_variables

_MATHY_WORDS = re.compile(
    r"\b(math|arithmetic|algebra|calculus|equation|integral|derivative|compute|calculate|"
    r"solve for|sum of|product of|what is \d)", re.IGNORECASE)
# LaTeX math or arithmetic; `/` alone is left out so "140/90 mmHg" or "24/7" is not math.
_MATHY_SYMBOLS = re.compile(
    r"\\\(|\\\[|\\frac|\\sqrt|\$[^$\n]*[\\^_=][^$\n]*\$|\d\s*[-/]\s*\d+\s*=|\d\s*[+*^×÷]\s*\d")
_MATH_TAGS = {"math", "maths", "arithmetic", "algebra", "calculus", "gsm8k", "math500"}


def judge_lints(plan: Plan) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def warn(location: str, message: str) -> None:
        location = _with_column(location)
        if (location, message) not in seen:
            seen.add((location, message))
            out.append((location, message))

    # Rubrics used by `judge` checks: their verdicts count towards the exit code. Pairwise
    # comparisons are reported, not gated.
    gating: dict[str, RubricSpec] = {}
    for case in plan.cases:
        for check in _judge_checks(case):
            rubric_key = str(check.params.get("rubric"))
            rubric = plan.rubrics.get(rubric_key)
            if rubric is None:
                continue  # an unknown rubric is the compiler's error, not a lint
            if check.kind == "judge":
                gating.setdefault(rubric_key, rubric)
            where = check.location or case.location or rubric.origin
            judge = rubric.judge or plan.judge
            compared = (list(check.params.get("models") or case.models)
                        if check.kind == "pairwise" else list(case.models))
            # With no models declared everything runs on the embedded model: there is no
            # other judge to suggest, and the spec says as much by declaring none.
            implicit_local = judge == "local" and list(plan.models) == ["local"]
            if judge is not None and judge in compared and not implicit_local:
                warn(where, f"the judge `{judge}` grades its own answers in case {case.id}: "
                     "judges favour themselves (MT-Bench: GPT-4 about +10%, Claude-v1 about "
                     "+25%); use a judge that is not under test")
            if (check.kind == "judge" and not case.reference and not rubric.reference
                    and _is_math(case, rubric)):
                warn(where, f"math case {case.id} is judged without a reference answer: "
                     "judges misgrade math they cannot solve (MT-Bench: 14 of 20 gradings "
                     "failed, 3 of 20 with a reference); set `reference = …` on the case, "
                     "or decide it with `expect number`")
            if check.kind == "pairwise" and len(set(compared)) < 2:
                warn(where, f"pairwise comparison in case {case.id} has fewer than two "
                     "models: there is nothing to compare")
            if (check.kind == "pairwise" and rubric.template
                    and "answer_b" not in template_variables(rubric.template)):
                warn(where, f"rubric {rubric.id} has its own judge template, but it shows no "
                     "`answer_b`; pairwise comparisons use the shipped pairwise template")
            samples = int(check.params.get("samples") or rubric.samples or 1)
            if samples > 1 and rubric.temperature == 0:
                warn(where, f"{samples} judge samples at temperature 0 repeat one verdict; "
                     f"set `temperature` on rubric {rubric.id} for samples to differ")

    for rubric in gating.values():
        if not rubric.examples:
            warn(rubric.origin, f"rubric {rubric.id} decides pass or fail but has no golden "
                 "examples, so nobody can check that its judge agrees with people; add "
                 "`example { text = … score = … }` blocks and run `evalspec calibrate`")
    return out


def _with_column(location: str) -> str:
    """`file:line:col`, as the compiler expects: rubric origins are `file:line` only."""
    if re.search(r":\d+:\d+$", location) or not re.search(r":\d+$", location):
        return location
    return location + ":1"


def _judge_checks(case: CaseSpec) -> Iterator[CheckSpec]:
    for spec in case.checks:
        for check in spec.walk():
            if check.kind in ("judge", "pairwise"):
                yield check


def _is_math(case: CaseSpec, rubric: RubricSpec) -> bool:
    labels = {t.lower() for t in case.tags} | {case.suite.lower()}
    if labels & _MATH_TAGS or "math" in rubric.id.lower() or "math" in rubric.name.lower():
        return True
    if any(c.kind in ("number", "choice") for spec in case.checks for c in spec.walk()):
        return True
    prompt = "\n".join(m.content for m in case.messages if m.role == "user")
    return bool(_MATHY_SYMBOLS.search(prompt) or _MATHY_WORDS.search(prompt))
