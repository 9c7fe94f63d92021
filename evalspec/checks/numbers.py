"""`number` (the final numeric answer compared with a value) and `choice` (which option the
answer concludes for). The reading itself lives in `evalspec.extract`."""

from __future__ import annotations

from ..extract.choice import Verdict, choose, same_option
from ..extract.numbers import TAIL, Answer, compare, final_answer, fmt, json_number, numbers
from ..outcome import CheckResult, failed, passed
from ..plan import CaseSpec, CheckSpec
from ..response import ModelResponse
from .base import sync_check

_FAIL_SYMBOL = {"==": "≠", "!=": "=", "<": "≥", "<=": ">", ">": "≤", ">=": "<"}
_PASS_SYMBOL = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def _tolerance(abs_tol: float | None, rel_tol: float | None) -> str:
    parts = ([f"±{fmt(abs_tol)}"] if abs_tol else []) + (
        [f"±{fmt(rel_tol * 100)}% relative"] if rel_tol else [])
    return f" within {' or '.join(parts)}" if parts else ""


def _shown(a: Answer) -> str:
    """The value, and how the answer wrote it when that differs ("200000000 ('$200 million')")."""
    v = fmt(a.value)
    written = a.mention.text
    return v if written.replace(" ", "") in (v, v + a.mention.unit) else f"{v} ('{written}')"


@sync_check("number")
def check_number(spec: CheckSpec, case: CaseSpec, response: ModelResponse) -> CheckResult:
    p = spec.params
    text = response.text or ""
    op = p["op"]
    expected = [float(v) for v in p["values"]] if op == "in" else float(p["value"])
    abs_tol, rel_tol = p.get("abs_tol"), p.get("rel_tol")
    ev: dict[str, object] = {"op": op, "expected": expected, "abs_tol": abs_tol,
                             "rel_tol": rel_tol}
    if len(text) > TAIL:
        ev["scanned"] = f"the last {TAIL:,} of {len(text):,} chars"
    if not text.strip():
        return failed("number", "the answer is empty", **ev)
    answer = final_answer(text)
    if answer is None:
        seen = numbers(text, max(0, len(text) - TAIL))
        if not seen:
            return failed("number", "no number in the answer", **ev)
        ignored = ", ".join(f"{m.text!r} ({m.ignored})" for m in seen[-5:])
        return failed("number", f"no final answer: the only numbers are {ignored}",
                      ignored=[m.to_json() for m in seen[-20:]], **ev)
    ev.update(value=json_number(answer.value), as_written=answer.mention.text,
              span=[answer.mention.start, answer.mention.end], rule=answer.rule,
              context=answer.context)
    if answer.mention.unit:
        ev["unit"] = answer.mention.unit
    ok = compare(answer.value, op, expected, abs_tol, rel_tol)
    tol = _tolerance(abs_tol, rel_tol)
    found = f"(found by {answer.rule})"
    if op == "in":
        assert isinstance(expected, list)
        options = ", ".join(fmt(v) for v in expected)
        verdict = "is one of" if ok else "is not one of"
        reason = f"final answer {_shown(answer)} {verdict} {options}{tol} {found}"
    else:
        assert isinstance(expected, float)
        symbol = (_PASS_SYMBOL if ok else _FAIL_SYMBOL)[op]
        reason = f"final answer {_shown(answer)} {symbol} {fmt(expected)}{tol} {found}"
        if not ok and op not in ("==", "!="):
            reason += f", expected {op} {fmt(expected)}"
    return (passed if ok else failed)("number", reason, **ev)


def _question(case: CaseSpec) -> str:
    users = [m.content for m in case.messages if m.role == "user"]
    return users[-1] if users else ""


def _by(v: Verdict) -> str:
    return f"by {v.rule}: {v.quote!r}"


def _claim(v: Verdict, options: list[str]) -> str:
    if len(v.supports) == 1:
        return next(iter(v.supports))
    against = [o for o in options if o not in v.supports]
    return "not " + " or ".join(against) if against else " or ".join(sorted(v.supports))


@sync_check("choice")
def check_choice(spec: CheckSpec, case: CaseSpec, response: ModelResponse) -> CheckResult:
    options = [str(o) for o in spec.params["options"]]
    expected = str(spec.params["expected"])
    text = response.text or ""
    if not text.strip():
        return failed("choice", "the answer is empty", options=options, expected=expected)
    c = choose(text, options, _question(case))
    ev = {"expected": expected, "options": options, **c.to_json()}
    if c.status == "chosen":
        assert c.option is not None and c.verdict is not None
        if same_option(c.option, expected):
            return passed("choice", f"concludes {c.option} ({_by(c.verdict)})", **ev)
        return failed("choice", f"concludes {c.option}, not {expected} ({_by(c.verdict)})",
                      **ev)
    if c.status == "ambiguous":
        a, b = c.conflicts[0], c.conflicts[-1]
        return failed("choice", f"ambiguous: claims {_claim(a, options)} ({a.quote!r}) and "
                                f"{_claim(b, options)} ({b.quote!r})", **ev)
    mentioned = ", ".join(f"{o} ×{n}" for o, n in c.mentions.items() if n)
    if not mentioned:
        return failed("choice", f"mentions none of the options {', '.join(options)}", **ev)
    return failed("choice", f"does not conclude for any option (mentions {mentioned})", **ev)
