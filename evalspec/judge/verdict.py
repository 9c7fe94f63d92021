"""The verdict a judge must give, as a JSON Schema generated from the rubric, and the parser
that reads whatever the judge actually replied.

The schema puts each criterion's reasoning before its score and the overall score last, so a
judge constrained by a grammar (llama.cpp) or by structured output writes its argument before
committing to a number. Replies from endpoints without structured output are parsed robustly:
JSON in a fence or in prose, then `[RESULT] 4` (Prometheus) and `Score: 4` lines. A reply that
yields no score, or a score outside the scale, is *unusable*: the caller reports it as
`unscored` with the raw reply, never as the minimum score and never as a pass.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..plan import RubricSpec

REASONING_MAX = 400
"""Characters of reasoning per criterion: enough for an argument, small enough for a 270M model."""
REASONING_MAX_COMPACT = 160
REASONING_KEEP = 4000
"""Characters of a judge's reasoning kept as evidence, whatever it wrote."""

# A reply is scanned for at most this many JSON candidates, so megabytes of braces stay cheap.
_MAX_JSON_ATTEMPTS = 200
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
# Prometheus ends its feedback with `[RESULT] n`; the last one in the reply wins, as in Inspect.
_RESULT_TAG = re.compile(
    r"\[RESULT\]\s*[:=]?\s*\**\s*(" + _NUMBER + r"|pass|fail)(?:\s*/\s*(\d+))?", re.IGNORECASE)
_SCORE_LINE = re.compile(
    r"\b(?:overall\s+score|final\s+score|score|rating|grade)\b\"?\s*[:=]\s*\**\s*(" + _NUMBER
    + r"|pass|fail)\**(?:\s*(?:/|out\s+of)\s*(\d+))?", re.IGNORECASE)
_PASS_WORDS = {"pass": 1.0, "passed": 1.0, "yes": 1.0, "true": 1.0,
               "fail": 0.0, "failed": 0.0, "no": 0.0, "false": 0.0}

# Pairwise: MT-Bench writes `[[A]]`, `[[B]]` or `[[C]]` (a tie); Prometheus `[RESULT] A`.
_PAIR_BRACKETS = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_PAIR_RESULT = re.compile(r"\[RESULT\]\s*[:=]?\s*\**\s*(A|B|tie)\b", re.IGNORECASE)
_PAIR_LINE = re.compile(
    r"\b(?:preferred|winner|better(?:\s+answer)?|verdict|choice)\b\"?\s*[:=]\s*\**\s*\"?"
    r"(?:answer\s+|assistant\s+)?(A|B|tie)\b", re.IGNORECASE)
_PAIR_KEYS = ("preferred", "winner", "better", "verdict", "choice")


def score_schema(rubric: RubricSpec) -> dict[str, Any]:
    if rubric.pass_fail:
        return {"type": "integer", "enum": [0, 1]}
    return {"type": "integer", "minimum": rubric.scale_min, "maximum": rubric.scale_max}


def _reasoning_schema(max_reasoning: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_reasoning}


def verdict_schema(rubric: RubricSpec, *, max_reasoning: int = REASONING_MAX) -> dict[str, Any]:
    """The JSON Schema of a single-answer verdict. Property order is part of the contract:
    reasoning before score in every criterion, criteria before the overall score."""
    props: dict[str, Any] = {}
    if rubric.criteria:
        props["criteria"] = {
            "type": "object",
            "properties": {
                c.name: {
                    "type": "object",
                    "properties": {"reasoning": _reasoning_schema(max_reasoning),
                                   "score": score_schema(rubric)},
                    "required": ["reasoning", "score"],
                    "additionalProperties": False,
                }
                for c in rubric.criteria
            },
            "required": [c.name for c in rubric.criteria],
            "additionalProperties": False,
        }
    else:
        props["reasoning"] = _reasoning_schema(max_reasoning)
    props["score"] = score_schema(rubric)
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def pairwise_schema(*, max_reasoning: int = REASONING_MAX) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"reasoning": _reasoning_schema(max_reasoning),
                       "preferred": {"type": "string", "enum": ["A", "B", "tie"]}},
        "required": ["reasoning", "preferred"],
        "additionalProperties": False,
    }


def reply_shape(rubric: RubricSpec) -> str:
    """The verdict's shape as the prompt shows it, one line, e.g.
    `{"criteria": {"imagery": {"reasoning": "...", "score": 1-5}}, "score": 1-5}`."""
    scale = "0 or 1" if rubric.pass_fail else f"{rubric.scale_min}-{rubric.scale_max}"
    if rubric.criteria:
        inner = ", ".join(f'"{c.name}": {{"reasoning": "...", "score": {scale}}}'
                          for c in rubric.criteria)
        return f'{{"criteria": {{{inner}}}, "score": {scale}}}'
    return f'{{"reasoning": "...", "score": {scale}}}'


def token_budget(rubric: RubricSpec, max_reasoning: int) -> int:
    """max_tokens that lets a judge fill the schema: ~3 characters a token plus JSON overhead."""
    parts = max(1, len(rubric.criteria))
    return 64 + parts * (max_reasoning // 3 + 24)


@dataclass(frozen=True, slots=True)
class CriterionVerdict:
    score: float
    reasoning: str

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "reasoning": self.reasoning}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One judge reply, read. `score` is None when the reply is unusable; `problem` says why."""

    raw: str
    score: float | None = None
    """The score evalspec decides on: the weighted mean of the criterion scores when the judge
    gave them all, else the judge's overall score."""
    overall: float | None = None
    """The overall score the judge stated itself."""
    criteria: Mapping[str, CriterionVerdict] = field(default_factory=dict)
    reasoning: str = ""
    method: str = "none"
    """How the verdict was read: `json`, `result-tag`, `score-line`, or `none`."""
    problem: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.score is not None


@dataclass(frozen=True, slots=True)
class PairVerdict:
    raw: str
    preferred: str | None = None
    """`A`, `B` or `tie` (positions as the judge saw them); None when unusable."""
    reasoning: str = ""
    method: str = "none"
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.preferred is not None


class _Unusable(Exception):
    """A reply that cannot be read as a verdict; the message is the reason a person reads."""


def parse_verdict(raw: str, rubric: RubricSpec) -> Verdict:
    """Read a judge reply as a verdict under `rubric`. Never raises."""
    text = raw if isinstance(raw, str) else str(raw)
    try:
        obj = _last_object(text, _looks_like_verdict(rubric))
        if obj is not None:
            return _from_json(text, obj, rubric)
        if _starts_like_json(text):
            raise _Unusable(f"the reply looks like JSON but is not valid: {_json_error(text)}")
        return _from_text(text, rubric)
    except _Unusable as exc:
        return Verdict(raw=text, problem=str(exc))


def parse_pair_verdict(raw: str) -> PairVerdict:
    """Read a pairwise judge reply: which answer, A or B (or a tie), it prefers. Never raises."""
    text = raw if isinstance(raw, str) else str(raw)
    obj = _last_object(text, lambda d: any(k in d for k in _PAIR_KEYS))
    if obj is not None:
        value = next(obj[k] for k in _PAIR_KEYS if k in obj)
        preferred = _pair_choice(value)
        reasoning = _text_field(obj.get("reasoning") or obj.get("explanation"))
        if preferred is None:
            return PairVerdict(text, None, reasoning, "json",
                               f"the verdict names {_short(value)!r}, not A, B or tie")
        return PairVerdict(text, preferred, reasoning, "json")
    if _starts_like_json(text):
        return PairVerdict(text, problem="the reply looks like JSON but is not valid: "
                           + _json_error(text))
    for pattern, method in ((_PAIR_BRACKETS, "brackets"), (_PAIR_RESULT, "result-tag"),
                            (_PAIR_LINE, "verdict-line")):
        matches = list(pattern.finditer(text))
        if matches:
            last = matches[-1]
            return PairVerdict(text, _pair_choice(last.group(1)),
                               text[: last.start()].strip()[-2000:], method)
    return PairVerdict(text, problem="the reply names no preferred answer (A, B or tie)")


def _pair_choice(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip().strip("[]*\"'.").lower()
    v = re.sub(r"^(answer|assistant|response)\s+", "", v)
    if v == "a":
        return "A"
    if v == "b":
        return "B"
    if v in ("tie", "c", "draw", "equal", "neither", "both"):
        return "tie"
    return None


# -- reading JSON ------------------------------------------------------------------------------

def _json_candidates(text: str) -> Iterator[Any]:
    """Every JSON object in `text`: fenced blocks first, then bare objects in prose."""
    for m in _FENCE.finditer(text):
        try:
            yield json.loads(m.group(1))
        except (ValueError, RecursionError):
            continue
    decoder = json.JSONDecoder()
    pos, attempts = 0, 0
    while attempts < _MAX_JSON_ATTEMPTS:
        start = text.find("{", pos)
        if start < 0:
            return
        attempts += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            pos = start + 1
            continue
        yield value
        pos = end


def _last_object(text: str, wanted) -> dict[str, Any] | None:
    found = None
    for value in _json_candidates(text):
        if isinstance(value, dict) and wanted(value):
            found = value
    return found


def _looks_like_verdict(rubric: RubricSpec):
    names = {c.name for c in rubric.criteria}

    def wanted(d: dict[str, Any]) -> bool:
        return ("score" in d or "criteria" in d or "overall" in d or "overall_score" in d
                or bool(names & d.keys()))
    return wanted


def _starts_like_json(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith("{") or stripped.lower().startswith("```json")


def _json_error(text: str) -> str:
    body = text.strip()
    m = _FENCE.search(body)
    if m:
        body = m.group(1)
    elif body.lower().startswith("```json"):
        body = body[7:]
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError) as exc:
        return str(exc)[:200]
    return "it holds no score"


def _from_json(text: str, obj: dict[str, Any], rubric: RubricSpec) -> Verdict:
    notes: list[str] = []
    overall_raw = next((obj[k] for k in ("score", "overall", "overall_score") if k in obj), None)
    overall = None if overall_raw is None else _coerce(overall_raw, rubric, "the overall score")
    criteria = _criteria(obj, rubric)
    reasoning = _text_field(obj.get("reasoning") or obj.get("feedback") or obj.get("explanation"))
    score: float | None
    if rubric.criteria and len(criteria) == len(rubric.criteria):
        total_weight = sum(c.weight for c in rubric.criteria)
        if total_weight > 0:
            score = sum(criteria[c.name].score * c.weight for c in rubric.criteria) / total_weight
        else:
            score = sum(v.score for v in criteria.values()) / len(criteria)
    elif overall is not None:
        score = overall
        if rubric.criteria:
            missing = [c.name for c in rubric.criteria if c.name not in criteria]
            notes.append("criteria without a score: " + ", ".join(missing)
                         + "; the judge's overall score decides")
    else:
        raise _Unusable("the JSON verdict has no overall score and not every criterion has one")
    return Verdict(raw=text, score=score, overall=overall, criteria=criteria,
                   reasoning=reasoning, method="json", notes=tuple(notes))


def _criteria(obj: dict[str, Any], rubric: RubricSpec) -> dict[str, CriterionVerdict]:
    source: Any = obj.get("criteria", obj)
    if isinstance(source, list):
        # Without a grammar small models often write [{"name": ..., "score": ...}, ...].
        source = {str(item.get("name") or item.get("criterion")): item
                  for item in source if isinstance(item, dict)}
    if not isinstance(source, dict):
        return {}
    out: dict[str, CriterionVerdict] = {}
    for c in rubric.criteria:
        entry = source.get(c.name)
        if entry is None:
            continue
        if isinstance(entry, dict):
            if "score" not in entry:
                continue
            value, reasoning = entry["score"], _text_field(entry.get("reasoning"))
        else:
            value, reasoning = entry, ""
        out[c.name] = CriterionVerdict(_coerce(value, rubric, f"criterion {c.name!r}"), reasoning)
    return out


def _coerce(value: Any, rubric: RubricSpec, what: str) -> float:
    """A score as a number on the rubric's scale, or _Unusable saying why not."""
    number: float | None = None
    if isinstance(value, bool):
        if rubric.pass_fail:
            number = 1.0 if value else 0.0
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        v = value.strip().strip("*").strip().lower()
        if rubric.pass_fail and v in _PASS_WORDS:
            number = _PASS_WORDS[v]
        else:
            m = re.fullmatch(r"(" + _NUMBER + r")\s*(?:/\s*(\d+))?", v)
            if m:
                if m.group(2) and int(m.group(2)) != rubric.scale_max:
                    raise _Unusable(f"{what} is {value.strip()!r}, on a different scale than "
                                    f"{_scale(rubric)}")
                number = float(m.group(1))
    if number is None or not math.isfinite(number):
        raise _Unusable(f"{what} is {_short(value)!r}, not a number on the scale {_scale(rubric)}")
    if not rubric.scale_min <= number <= rubric.scale_max:
        raise _Unusable(f"{what} is {_fmt(number)}, outside the scale {_scale(rubric)}")
    return number


def _from_text(text: str, rubric: RubricSpec) -> Verdict:
    for pattern, method in ((_RESULT_TAG, "result-tag"), (_SCORE_LINE, "score-line")):
        matches = list(pattern.finditer(text))
        if not matches:
            continue
        last = matches[-1]
        value = last.group(1) if last.group(2) is None else f"{last.group(1)}/{last.group(2)}"
        score = _coerce(value, rubric, "the score")
        return Verdict(raw=text, score=score, overall=score,
                       reasoning=text[: last.start()].strip()[-2000:], method=method)
    if not text.strip():
        raise _Unusable("the judge's reply is empty")
    raise _Unusable("the reply holds no verdict: no JSON with a score, no `[RESULT] n`, "
                    "no `Score: n` line")


def _text_field(value: Any) -> str:
    if value is None:
        return ""
    # A judge that ignores maxLength must not bloat the store with its essay.
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:REASONING_KEEP]


def _scale(rubric: RubricSpec) -> str:
    return "0 (fail) / 1 (pass)" if rubric.pass_fail else f"{rubric.scale_min}..{rubric.scale_max}"


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def _short(value: Any) -> str:
    s = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return s if len(s) <= 60 else s[:57] + "..."
