"""Numbers in free text, and the final answer of a worked solution.

`numbers(text)` finds every number as written: `1,234,567`, `-3.5`, `3/4`, `\\frac{3}{4}`,
`1.2e5`, `1.2 × 10^5`, `25%`, `$200 million`. Each mention records why it cannot be a final
answer, if it cannot: a step number (`Step 2:`), a list enumerator (`1. `), a function argument
(`g(1)`), a variable binding (`at x = 1`), an operand (`16 + 8`), the left side of an equation.

`final_answer(text)` picks the answer by the first rule that finds one:

1. the last `\\boxed{...}`;
2. the last explicit answer phrase: "final answer", "the answer is", "Answer:", `####`;
3. a conclusion near the end ("Therefore ... = 25", "So the value is 25") that no later
   computation supersedes;
4. the last bold span holding a number (`**25**`), likewise not superseded;
5. the result of the last equation (`... = 25`);
6. the last number that is not a step number, enumerator, argument or operand.

Values are the number as written, with scale words applied (`200 million` is 2e8) and
percentages kept as written (`25%` is 25, unit `%`). Thousands separators are commas followed by
exactly three digits (`1,234,567`); `1, 2, 3` is a list. European decimal commas are not read.
Only the last `TAIL` characters are scanned: answers end where they conclude, and the bound keeps
a 10 MB answer fast.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .spans import excerpt

TAIL = 50_000

_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
           "bn": 1e9, "mn": 1e6}

# Every piece is bounded or atomic, so no input makes this backtrack more than linearly.
_NUMBER = re.compile(r"""
    (?<![\w.\\/])
    (?P<sign>[-−+](?=[$€£¥]?(?:\d|\.\d|\\[dt]?frac)))?
    (?P<cur>[$€£¥])?
    (?:
        \\[dt]?frac\s{0,3}\{\s{0,3}(?P<fn>-?\d{1,30}(?:\.\d{1,30})?)\s{0,3}\}
                   \s{0,3}\{\s{0,3}(?P<fd>-?\d{1,30}(?:\.\d{1,30})?)\s{0,3}\}
      | \\[dt]?frac(?P<fn1>\d)(?P<fd1>\d)
      | 10\s{0,2}\^\s{0,2}\{?\s{0,2}(?P<pow10>[-−+]?\d{1,4})\s{0,2}\}?(?![\d.])
      | (?P<num>(?>(?:\d{1,3}(?:(?:,|\{,\}|[\u202f\u2009])\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+))
        (?!\.\d)
        (?:/(?P<den>\d{1,30})(?![\d/]|\.\d))?
        (?P<exp>[eE][-+]?\d{1,4}(?!\d))?
        (?:\s{0,2}(?:[×x*·]|\\times|\\cdot)\s{0,2}10\s{0,2}(?:\^|\*\*)\s{0,2}\{?\s{0,2}
           (?P<pow>[-−+]?\d{1,4})\s{0,2}\}?)?
    )
    (?:\s?(?P<pct>%|\\%|percent\b))?
    (?:\s(?P<scale>thousand|million|billion|trillion|bn|mn)\b)?
""", re.VERBOSE)

# Context tests, applied to a few dozen characters around a number.
_LABEL_BEFORE = re.compile(
    r"(?i)\b(?:step|part|case|stage|phase|method|approach|example|problem|question|q|item|"
    r"option|round|iteration|attempt|rule|figure|fig\.|table|section|chapter|equation|eq\.|"
    r"lemma|theorem|line|page|version|v)\s?#?$")
_LINE_PREFIX = re.compile(r"(?:^|\n)[ \t]*(?:[#*_>-]+[ \t]*)*$")
_ENUM_AFTER = re.compile(r"[.)][ \t]+\S")
_ORDINAL_AFTER = re.compile(r"(?:st|nd|rd|th)\b")
_ARG_BEFORE = re.compile(r"[A-Za-z]\s?\(\s?$")
_ARG_AFTER = re.compile(r"\s?\)")
_BINDING_BEFORE = re.compile(
    r"(?i)\b(?:at|when|for|with|where|if|given|let|plug\w*\s+in|substitut\w*|evaluat\w*\s+at|"
    r"put)\s+(?:\\\(|\$)?\s?[a-z]\s?=\s?$")
# A lone `*` multiplies; `**` is markdown bold.
_OPERATOR_BEFORE = re.compile(
    r"(?:[-+/^×÷·]|(?<!\*)\*|\\times|\\cdot|\\div)\s?\{?\s?$|\\sqrt\s?\{$")
_OPERATOR_AFTER = re.compile(r"\s?(?:[-+/^×÷·]|\*(?!\*)|\\times|\\cdot|\\div)\s?[\w(\\{.]")
_LHS_AFTER = re.compile(r"\s?(?:=|≈|\\approx)")
_COEF_AFTER = re.compile(r"(?:[xyznt](?![A-Za-z])|\\sqrt|\\pi)")
# "(since g(1) = 4)": a justification in parentheses, not the answer.
_ASIDE = re.compile(r"(?i)\(\s?(?:since|because|as|where|from|using|via|recall|note|check|"
                    r"verify|i\.e\.|e\.g\.|which|when|for)\b(?:[^()\n]|\([^()\n]*\))*$")
_MATH_CLOSE = re.compile(r"\s{0,3}\$")
_RESULT_BEFORE = re.compile(
    r"(?:=|≈|\\approx|\\equiv)\s?(?:\$|\\\(|\\\[|\*\*|\\boxed\{|\\mathbf\{|\{)?\s?$")


@dataclass(frozen=True, slots=True)
class Mention:
    """One number as written in a text."""

    value: float
    text: str
    start: int
    end: int
    unit: str = ""
    """`%`, or the currency symbol written before the number."""
    ignored: str = ""
    """Why this cannot be a final answer ("step number", "function argument", ...), or ""."""
    result: bool = False
    """Written right after `=`: the result of an equation."""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"value": json_number(self.value), "text": self.text,
                                  "span": [self.start, self.end]}
        if self.unit:
            out["unit"] = self.unit
        if self.ignored:
            out["ignored"] = self.ignored
        return out


@dataclass(frozen=True, slots=True)
class Answer:
    """The final answer found in a text, and how."""

    mention: Mention
    rule: str
    """What found it, as a person would name it: `\\boxed{}`, `'the answer is'`, `last number`."""
    context: str
    """A one-line excerpt around the answer."""

    @property
    def value(self) -> float:
        return self.mention.value


def json_number(v: float) -> float | int | str:
    """`v` as JSON can hold it: integral floats as ints, infinities and NaN as strings."""
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v.is_integer() and abs(v) < 2**63:
        return int(v)
    return v


def fmt(v: float) -> str:
    """A number as a person writes it: 25, 0.75, 1.2e+20."""
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return f"{v:.12g}"


def _value(m: re.Match[str]) -> float | None:
    try:
        if m["fn"] is not None:
            num, den = float(m["fn"]), float(m["fd"])
        elif m["fn1"] is not None:
            num, den = float(m["fn1"]), float(m["fd1"])
        elif m["pow10"] is not None:
            num, den = 10.0 ** int(m["pow10"].replace("−", "-")), 1.0
        else:
            digits = m["num"].replace("{,}", "").replace(",", "")
            digits = digits.replace("\u202f", "").replace("\u2009", "")
            num = float(digits + (m["exp"] or ""))
            den = float(m["den"]) if m["den"] else 1.0
            if m["pow"]:
                num *= 10.0 ** int(m["pow"].replace("−", "-"))
    except OverflowError:
        return math.inf
    if den == 0:
        return None
    v = num / den
    if m["sign"] in ("-", "−"):
        v = -v
    if m["scale"]:
        v *= _SCALES[m["scale"]]
    return v


def _why_ignored(text: str, start: int, end: int, m: re.Match[str]) -> str:
    before = text[max(0, start - 40):start]
    after = text[end:end + 12]
    is_int = m["num"] is not None and m["den"] is None and "." not in m["num"] and not m["exp"]
    if _LABEL_BEFORE.search(before):
        return "step or label number"
    # Look back at most 200 characters: a 10 MB line must not make every number O(n).
    lo = max(0, start - 200)
    newline = text.rfind("\n", lo, start)
    line_start = newline + 1 if newline >= 0 else lo
    if _ASIDE.search(text, line_start, start):
        return "aside in parentheses"
    if is_int and _LINE_PREFIX.search(before) and _ENUM_AFTER.match(after):
        return "list enumerator"
    if is_int and _ORDINAL_AFTER.match(after):
        return "ordinal"
    if (newline >= 0 or lo == 0) and text[line_start:start].lstrip(" \t").startswith(">"):
        return "quoted text"
    if _ARG_BEFORE.search(before) and _ARG_AFTER.match(after):
        return "function argument"
    if _BINDING_BEFORE.search(before):
        return "variable binding"
    bullet = _LINE_PREFIX.search(before) is not None
    if (not bullet and _OPERATOR_BEFORE.search(before)) or _OPERATOR_AFTER.match(after):
        return "operand"
    if _LHS_AFTER.match(after):
        return "left side of an equation"
    if is_int and _COEF_AFTER.match(after):
        return "coefficient"
    return ""


def numbers(text: str, start: int = 0, end: int | None = None) -> list[Mention]:
    """Every number written in `text[start:end]`, in order, with offsets into `text`."""
    out: list[Mention] = []
    for m in _NUMBER.finditer(text, start, len(text) if end is None else end):
        v = _value(m)
        if v is None:
            continue
        s, e = m.span()
        # The pattern may end on trailing spaces of an optional group; keep the text tight.
        while e > s and text[e - 1].isspace():
            e -= 1
        unit = "%" if m["pct"] else (m["cur"] or "")
        if m["cur"] == "$" and _MATH_CLOSE.match(text, e):
            # `$25$` is LaTeX math, not 25 dollars.
            s, unit = s + 1, ""
        before = text[max(0, s - 20):s]
        out.append(Mention(v, text[s:e], s, e, unit, _why_ignored(text, s, e, m),
                           bool(_RESULT_BEFORE.search(before))))
    return out


def parse_number(s: str) -> float | None:
    """The value of `s` when the whole of it (stripped) is one number as written, else None.

    `"1,234"`, `"3/4"`, `"25%"`, `"$200 million"` parse; `"about 5"`, `"500+"`, `"1, 2"` do not.
    """
    s = s.strip()
    m = _NUMBER.fullmatch(s)
    return None if m is None else _value(m)


def compare(actual: float, op: str, expected: float | list[float], abs_tol: float | None = None,
            rel_tol: float | None = None) -> bool:
    """`actual op expected`, where equality means within tolerance (default 1e-9 relative).

    `<` and `>` are strict: a value within tolerance of the bound counts as equal, not less.
    `in` takes a list of expected values.
    """
    def eq(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=1e-9 if rel_tol is None else rel_tol,
                            abs_tol=abs_tol or 0.0)

    if op == "in":
        assert isinstance(expected, list)
        return any(eq(actual, float(x)) for x in expected)
    assert not isinstance(expected, list)
    b = float(expected)
    match op:
        case "==":
            return eq(actual, b)
        case "!=":
            return not eq(actual, b)
        case "<":
            return actual < b and not eq(actual, b)
        case "<=":
            return actual < b or eq(actual, b)
        case ">":
            return actual > b and not eq(actual, b)
        case ">=":
            return actual > b or eq(actual, b)
    raise ValueError(f"unknown comparison {op!r}")


# ---------------------------------------------------------------------------------------------
# Final answers

_BOXED = re.compile(r"\\(?:boxed|fbox)\s{0,3}\{")
_ANSWER_PHRASE = re.compile(
    r"(?im)\bfinal\s+answer\b(?:\s{0,3}(?:is|:|=|would\s+be|will\s+be))?"
    r"|\b(?:the\s+)?(?:correct\s+)?answer\s{0,3}(?:\*\*)?\s{0,3}(?:is|:|=|would\s+be|will\s+be|"
    r"should\s+be)"
    r"|^[ \t]*#{3,4}(?=[ \t])"
    r"|\bfinal\s+(?:result|value|total)\b(?:\s{0,3}(?:is|:|=))?")
_CONCLUSION = re.compile(
    r"(?i)\b(?:therefore|thus|hence|so|consequently|in\s+conclusion|in\s+summary|"
    r"to\s+summari[sz]e|overall|finally|this\s+gives|we\s+get|which\s+gives|giving|"
    r"the\s+(?:result|value|total|sum|product|solution)\s+(?:is|equals))\b")
_VERIFICATION = re.compile(
    r"(?i)\b(?:double[- ]?check|sanity[- ]check|check(?:ing)?|verif(?:y|ying|ication)|"
    r"let\s+me\s+(?:check|verify|confirm)|to\s+confirm|confirm(?:ing|ation))\b")
_BOLD = re.compile(r"\*\*([^*\n]{1,200})\*\*|__([^_\n]{1,200})__")
# Where a marker's sentence ends: a full stop, ! or ? followed by space, or a line break.
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_DECORATION = re.compile(r"[\s*_:$`>]*(?:\\[(\[])?[\s*_:$`]*")


def _segment(text: str, pos: int, limit: int = 300) -> tuple[int, int]:
    """The sentence that starts at `pos`; when the rest of the line is empty ("**Final
    Answer:**" on a line of its own), the next non-empty line."""
    start = _DECORATION.match(text, pos)
    assert start is not None
    pos = start.end()
    hi = min(len(text), pos + limit)
    m = _SENTENCE_END.search(text, pos, hi)
    return pos, (m.start() if m else hi)


def _balanced(text: str, open_brace: int, limit: int = 1000) -> int:
    """The offset of the `}` closing the `{` at `open_brace`, or -1 within `limit`."""
    depth = 0
    for i in range(open_brace, min(len(text), open_brace + limit)):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _in(ms: list[Mention], lo: int, hi: int) -> list[Mention]:
    return [m for m in ms if lo <= m.start and m.end <= hi]


def _ok(ms: list[Mention]) -> list[Mention]:
    return [m for m in ms if not m.ignored]


def _superseded(text: str, ms: list[Mention], after: int) -> bool:
    """A later equation result means the text went on computing past a conclusion, unless it
    is only checking the conclusion ("Double-check: ...")."""
    check = _VERIFICATION.search(text, after)
    until = check.start() if check else len(text)
    return any(m.result and not m.ignored and after <= m.start < until for m in ms)


def _label(marker: str) -> str:
    return "'" + " ".join(marker.replace("*", "").lower().split()) + "'"


def final_answer(text: str) -> Answer | None:
    """The final numeric answer of `text`, or None when it states no usable number."""
    offset = max(0, len(text) - TAIL)
    ms = numbers(text, offset)
    if not ms:
        return None

    def found(m: Mention, rule: str) -> Answer:
        return Answer(m, rule, excerpt(text, m.start, m.end))

    # 1. \boxed{...}: its content's last usable number (skips `x =`, operands), else its last.
    for b in reversed(list(_BOXED.finditer(text, offset))):
        close = _balanced(text, b.end() - 1)
        inside = _in(ms, b.end(), close if close >= 0 else b.end() + 200)
        if inside:
            return found((_ok(inside) or inside)[-1], "\\boxed{}")

    # 2. The last explicit answer phrase with a usable number in its sentence.
    for a in reversed(list(_ANSWER_PHRASE.finditer(text, offset))):
        lo, hi = _segment(text, a.end())
        usable = _ok(_in(ms, lo, hi))
        if usable:
            return found(usable[0], _label(a.group()) if a.group().strip()[0] != "#"
                         else "'####'")

    # 3. The last conclusion, unless the text computes on after it.
    for c in reversed(list(_CONCLUSION.finditer(text, offset))):
        lo, hi = _segment(text, c.end())
        usable = _ok(_in(ms, lo, hi))
        if usable:
            if not _superseded(text, ms, hi):
                return found(usable[-1], "conclusion " + _label(c.group()))
            break

    # 4. The last bold span holding a usable number, likewise.
    for b in reversed(list(_BOLD.finditer(text, offset))):
        usable = _ok(_in(ms, b.start(), b.end()))
        if usable:
            if not _superseded(text, ms, b.end()):
                return found(usable[-1], "bold")
            break

    # 5. The result of the last equation; 6. the last usable number.
    results = [m for m in ms if m.result and not m.ignored]
    if results:
        return found(results[-1], "last equation result")
    usable = _ok(ms)
    return found(usable[-1], "last number") if usable else None
