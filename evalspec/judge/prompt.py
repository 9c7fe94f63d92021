"""Rubric + question + answer(s) -> the judge prompt, rendered with jinja2.

Templates, first match wins:

1. the rubric's own template (`RubricSpec.template`, text the compiler inlined). It grades single
   answers; it is used for pairwise comparisons too when it mentions `answer_b` (then it
   branches on `mode`);
2. the project's templates (`judge_templates/<name>.j2` next to the spec, inlined into the plan);
3. the templates shipped in `evalspec/judge/templates/`.

Names are `single`, `pairwise`, and for small local judges `single_compact` / `pairwise_compact`
(tried before the plain name). The judge gets one user message: the rendered template.

The shipped templates start with a machine-readable header line,
`EVALSPEC-JUDGE mode=<single|pairwise> rubric=<rubric id> scale=<lo..hi|pass_fail>`, and put the
graded text between `<answer>` … `</answer>` (pairwise: `<answer_a>`, `<answer_b>`) on lines of
their own, so a scripted test server can recognise judge calls and answer them by regex.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..plan import CaseSpec, Criterion, Message, ModelSpec, RubricSpec
from ..response import ModelResponse
from .verdict import reply_shape

TEMPLATE_NAMES = ("single", "pairwise", "single_compact", "pairwise_compact")
PROJECT_TEMPLATE_DIR = "judge_templates"
# What a template may use. Anything else is a typo the compiler should report.
TEMPLATE_VARIABLES = frozenset({
    "mode", "rubric", "scale", "scale_text", "criteria", "question", "reference",
    "answer", "answer_a", "answer_b", "reply_format",
})

ANSWER_CHARS = 12_000
ANSWER_CHARS_COMPACT = 2_000
QUESTION_CHARS = 6_000
QUESTION_CHARS_COMPACT = 1_500

# Text the judge reads must not be able to close our delimiters and talk to the judge as us.
_DELIMITER = re.compile(r"<(/?)\s*(answer_a|answer_b|answer|question|reference)\s*>", re.IGNORECASE)
_PASS_FAIL_LABELS = {"fail": "0 (fail)", "pass": "1 (pass)", "0": "0 (fail)", "1": "1 (pass)"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    messages: tuple[Message, ...]
    template: str
    """Where the template came from: `rubric`, `project:single.j2` or `evalspec:single.j2`."""
    template_hash: str
    truncated: bool
    """Whether an answer or the question was cut to fit the judge."""

    def to_evidence(self) -> dict[str, Any]:
        return {"template": self.template, "template_hash": self.template_hash,
                "truncated": self.truncated}


def is_compact_judge(model: ModelSpec | None) -> bool:
    """Small local models get the compact templates and shorter reasoning: their context is
    small and they write ~50 tokens/s on two cores."""
    return model is not None and model.provider == "local"


def render_single(rubric: RubricSpec, case: CaseSpec | None, answer: str, *,
                  compact: bool = False,
                  project_templates: Mapping[str, str] | None = None) -> JudgePrompt:
    limit = ANSWER_CHARS_COMPACT if compact else ANSWER_CHARS
    shown, cut = clip(sanitize(answer), limit)
    return _render("single", rubric, case, {"answer": shown}, cut, compact, project_templates)


def render_pairwise(rubric: RubricSpec, case: CaseSpec | None, answer_a: str, answer_b: str, *,
                    compact: bool = False,
                    project_templates: Mapping[str, str] | None = None) -> JudgePrompt:
    limit = ANSWER_CHARS_COMPACT if compact else ANSWER_CHARS
    a, cut_a = clip(sanitize(answer_a), limit)
    b, cut_b = clip(sanitize(answer_b), limit)
    return _render("pairwise", rubric, case, {"answer_a": a, "answer_b": b}, cut_a or cut_b,
                   compact, project_templates)


def _render(mode: str, rubric: RubricSpec, case: CaseSpec | None, answers: dict[str, str],
            truncated: bool, compact: bool,
            project_templates: Mapping[str, str] | None) -> JudgePrompt:
    origin, text = resolve_template(mode, rubric, compact=compact,
                                    project_templates=project_templates or {})
    question, q_cut = clip(question_text(case),
                           QUESTION_CHARS_COMPACT if compact else QUESTION_CHARS)
    reference = reference_for(rubric, case)
    if reference is not None:
        reference, _ = clip(reference, QUESTION_CHARS_COMPACT if compact else QUESTION_CHARS)
    variables: dict[str, Any] = {
        "mode": mode,
        "rubric": rubric,
        "scale": "pass_fail" if rubric.pass_fail else f"{rubric.scale_min}..{rubric.scale_max}",
        "scale_text": ("0 (fail) or 1 (pass)" if rubric.pass_fail
                       else f"{rubric.scale_min} (worst) to {rubric.scale_max} (best)"),
        "criteria": [_criterion_view(c, rubric.pass_fail) for c in rubric.criteria],
        "question": question,
        "reference": reference,
        "reply_format": reply_shape(rubric),
        "answer": "", "answer_a": "", "answer_b": "",
        **answers,
    }
    rendered = _compile(text).render(variables).strip() + "\n"
    return JudgePrompt((Message("user", rendered),), origin,
                       hashlib.sha256(text.encode("utf-8")).hexdigest()[:16], truncated or q_cut)


def resolve_template(mode: str, rubric: RubricSpec, *, compact: bool,
                     project_templates: Mapping[str, str]) -> tuple[str, str]:
    """(origin, template text) for `mode` under the precedence in the module docstring."""
    if rubric.template and (mode == "single" or "answer_b" in template_variables(rubric.template)):
        return "rubric", rubric.template
    names = [f"{mode}_compact", mode] if compact else [mode]
    for name in names:
        if project_templates.get(name):
            return f"project:{name}.j2", project_templates[name]
    for name in names:
        text = shipped_template(name)
        if text is not None:
            return f"evalspec:{name}.j2", text
    raise LookupError(f"no judge template for mode {mode!r}")  # the package ships both modes


@functools.cache
def shipped_template(name: str) -> str | None:
    path = resources.files(__package__).joinpath("templates").joinpath(f"{name}.j2")
    return path.read_text(encoding="utf-8") if path.is_file() else None


def load_project_templates(spec_dir: Path) -> dict[str, str]:
    """The project's template overrides, `judge_templates/<name>.j2` next to the spec, for the
    compiler to inline into the plan (so a plan stays self-contained). Unknown names are left
    out; `unknown_project_templates` lists them for a warning."""
    folder = Path(spec_dir) / PROJECT_TEMPLATE_DIR
    if not folder.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.j2"))
            if p.stem in TEMPLATE_NAMES}


def unknown_project_templates(spec_dir: Path) -> list[str]:
    folder = Path(spec_dir) / PROJECT_TEMPLATE_DIR
    if not folder.is_dir():
        return []
    return [p.name for p in sorted(folder.glob("*.j2")) if p.stem not in TEMPLATE_NAMES]


def template_variables(text: str) -> set[str]:
    try:
        return meta.find_undeclared_variables(_ENV.parse(text))
    except jinja2.TemplateSyntaxError:
        return set()


def validate_template(text: str, mode: str = "single") -> list[str]:
    """Problems with a judge template, as messages for the compiler; empty when it is fine."""
    try:
        used = meta.find_undeclared_variables(_ENV.parse(text))
    except jinja2.TemplateSyntaxError as exc:
        return [f"judge template syntax error at line {exc.lineno}: {exc.message}"]
    problems = [f"judge template uses unknown variable `{name}`"
                for name in sorted(used - TEMPLATE_VARIABLES)]
    needed = ("answer",) if mode == "single" else ("answer_a", "answer_b")
    problems += [f"judge template never shows `{name}` to the judge"
                 for name in needed if name not in used]
    return problems


# -- what the judge sees ---------------------------------------------------------------------

def question_text(case: CaseSpec | None) -> str:
    """The conversation the graded answer replies to: the user's message alone when that is all
    there is, otherwise every turn labelled with its role."""
    if case is None or not case.messages:
        return "(no question: grade the text on its own)"
    turns = [m for m in case.messages if m.content]
    if len(turns) == 1 and turns[0].role == "user":
        return sanitize(turns[0].content)
    return "\n\n".join(f"[{m.role}]\n{sanitize(m.content)}" for m in turns)


def reference_for(rubric: RubricSpec, case: CaseSpec | None) -> str | None:
    """The case's reference answer when it has one (it is specific), else the rubric's."""
    if case is not None and case.reference:
        return sanitize(case.reference)
    return sanitize(rubric.reference) if rubric.reference else None


def answer_text(response: ModelResponse) -> str:
    """Everything the model produced that a grader should see: executed tool steps, the final
    text, and tool calls it asked for."""
    parts: list[str] = []
    for step in response.steps:
        parts.append(f"[tool call] {step.call.name}({_args(step.call.arguments)})"
                     f" -> {step.output[:500]}")
    if response.text:
        parts.append(response.text)
    parts.extend(f"[tool call] {c.name}({_args(c.arguments)})" for c in response.tool_calls)
    return "\n".join(parts)


def sanitize(text: str) -> str:
    text = _CONTROL.sub("\ufffd", text)
    return _DELIMITER.sub(lambda m: f"‹{m.group(1)}{m.group(2)}›", text)


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Keep the head and the tail of a long text (conclusions sit at the end), and say how much
    was cut, so a megabyte answer never overflows the judge."""
    if len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[… {omitted} characters omitted …]\n{text[-tail:]}", True


def _args(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments[:500]
    return json.dumps(arguments, ensure_ascii=False, default=str)[:500]


def _criterion_view(c: Criterion, pass_fail: bool) -> dict[str, Any]:
    weight = float(c.weight)
    ordered = sorted(c.descriptors.items(), key=lambda kv: _descriptor_order(kv[0]))
    if pass_fail:
        # The judge answers 0 or 1; show which number each descriptor stands for.
        ordered = [(_PASS_FAIL_LABELS.get(str(k).lower(), k), v) for k, v in ordered]
    return {"name": c.name, "description": c.description,
            "weight": int(weight) if weight.is_integer() else weight, "descriptors": ordered}


def _descriptor_order(key: str) -> tuple[int, float, str]:
    k = str(key).strip().lower()
    if k in ("fail", "pass"):
        return (0, 0.0 if k == "fail" else 1.0, k)
    try:
        return (0, float(k), k)
    except ValueError:
        return (1, 0.0, k)


# Templates come from specs and rubric packages: sandboxed, and strict about undefined names.
_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True, autoescape=False)


@functools.lru_cache(maxsize=64)
def _compile(text: str) -> jinja2.Template:
    return _ENV.from_string(text)
