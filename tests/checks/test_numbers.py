"""Final-answer extraction and the `number` check.

ANSWERS is a table of realistic answers in the styles models write (markdown, LaTeX, GSM8K,
numbered steps, prose), including the traps: intermediate results, step counts at the end,
function arguments, restated questions, justifications after the result.
"""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalspec.checks.base import lookup
from evalspec.checks.numbers import check_number
from evalspec.extract.numbers import compare, final_answer, numbers, parse_number
from evalspec.outcome import Status
from evalspec.plan import CaseSpec, CheckSpec, Message
from evalspec.response import ModelResponse

S2_GPT4O = r"""To find \( f(g(x)) \), we substitute \( g(x) \) into \( f(x) \).

**Step 1: Compute \( g(1) \)**

\[ g(1) = \sqrt{1} + 3 = 1 + 3 = 4 \]

**Step 2: Compute \( f(4) \)**

\[ f(4) = 4^2 + 2 \cdot 4 + 1 = 16 + 8 + 1 = 25 \]

Therefore, the value of the composite function \( f(g(x)) \) at \( x = 1 \) is **25**.
"""

S2_LLAMA = r"""## Step 1: Find the composite function f(g(x))
To find f(g(x)), substitute g(x) into f(x): f(g(x)) = (\sqrt{x} + 3)^2 + 2(\sqrt{x} + 3) + 1.

## Step 2: Simplify
f(g(x)) = x + 6\sqrt{x} + 9 + 2\sqrt{x} + 6 + 1 = x + 8\sqrt{x} + 16.

## Step 3: Evaluate at x = 1
f(g(1)) = 1 + 8 + 16 = 25.

The final answer is: $\boxed{25}$"""

S2_STEP_COUNT = """First, g(1) = sqrt(1) + 3 = 4. Then f(4) = 4^2 + 2*4 + 1 = 16 + 8 + 1 = 25.

f(g(1)) = 25

I solved this in 3 steps."""

S2_VERIFIED = """We have g(1) = 1 + 3 = 4, so f(g(1)) = f(4) = 16 + 8 + 1 = 25.

Therefore f(g(1)) = 25.

Double-check: (1 + 3)^2 = 16, plus 2*4 = 8, plus 1 gives 25. ✓"""

S2_RESTATED = r"""You asked: given f(x) = x^2 + 2x + 1 and g(x) = \sqrt{x} + 3,
find f(g(x)) at x = 1.

1. Compute g(1): \sqrt{1} + 3 = 4
2. Compute f(4): 16 + 8 + 1 = 25
3. Conclude.

The result is 25."""

S2_NUMBERED = """1. g(1) = 4
2. f(4) = 25
3. Done"""

GSM8K = """Natalia sold 48/2 = 24 clips in May.
Natalia sold 48+24 = 72 clips altogether in April and May.
#### 72"""

JANET = """Janet sells 16 - 3 - 4 = 9 duck eggs a day.
She makes 9 * 2 = $18 every day at the farmer's market."""

# (answer, expected value or None, a word the rule must contain or "")
ANSWERS: list[tuple[str, float | None, str]] = [
    (S2_GPT4O, 25, "conclusion 'therefore'"),
    (S2_LLAMA, 25, "boxed"),
    (S2_STEP_COUNT, 25, "equation"),
    (S2_VERIFIED, 25, ""),
    (S2_RESTATED, 25, "result"),
    (S2_NUMBERED, 25, "equation"),
    ("f(g(1)) = 25", 25, "equation"),
    ("f(g(1)) = 25\n\nI solved this in 3 steps.", 25, "equation"),
    ("So the answer is 25. It took 4 steps to get here.", 25, "answer"),
    ("Answer: 25", 25, "answer"),
    ("**Answer:** 25", 25, "answer"),
    ("**Final Answer**\n\n25", 25, "final answer"),
    ("**Final Answer:**\n\nThe value is \\( 25 \\).", 25, "final answer"),
    ("Final Answer: The final answer is 25. I hope it is correct.", 25, "final answer"),
    ("The final answer is $\\boxed{25}$.", 25, "boxed"),
    ("\\[ f(g(1)) = \\boxed{25} \\]", 25, "boxed"),
    ("\\boxed{x = 25}", 25, "boxed"),
    ("\\boxed{16 + 8 + 1 = 25}", 25, "boxed"),
    ("Answer: f(g(1)) = 25", 25, "answer"),
    ("The answer is f(g(1)) = 25.", 25, "answer"),
    ("The answer is 25 (at x = 1).", 25, "answer"),
    ("f(g(1)) = 25 (since g(1) = 4).", 25, "equation"),
    ("The value is **25**.", 25, ""),
    ("**Result: 25**\n\nLet me know if you need anything else.", 25, "bold"),
    ("**Step 1:** g(1) = 4\n**Step 2:** f(4) = 25", 25, "equation"),
    ("Step 1: Compute g(1) = 4.\nStep 2: Compute f(4) = 25.\nStep 3: Done.", 25, "equation"),
    ("Step 1: read\nStep 2: think\nStep 3: write", None, ""),
    ("1. Compute g(1)\n2. Compute f(4)\n3. Done", None, ""),
    ("#### 25", 25, "####"),
    (GSM8K, 72, "####"),
    (JANET, 18, "equation"),
    ("The answer is 18 dollars.", 18, "answer"),
    ("Thus, x = 25.", 25, "thus"),
    ("We get x = 5 and y = 7, so x + y = 12.", 12, "so"),
    ("So g(1) = 4. Now f(4) = 16 + 8 + 1 = 25", 25, "equation"),
    ("The answer is 24 - 1 = 23.", 23, "answer"),
    ("Therefore, the answer is **-7**.", -7, "answer"),
    ("x = −3", -3, ""),
    ("The temperature dropped to -15 degrees.", -15, "last number"),
    ("The probability is 3/4.", 0.75, ""),
    ("The probability is $\\frac{3}{4}$.", 0.75, ""),
    ("$$\\boxed{\\dfrac{3}{4}}$$", 0.75, "boxed"),
    ("The slope is $-\\frac{1}{2}$.", -0.5, ""),
    ("\\tfrac12 of the cake is left", 0.5, ""),
    ("The growth rate is 25%.", 25, ""),
    ("The growth rate is 25\\%.", 25, ""),
    ("It grew by about 12.5 percent.", 12.5, ""),
    ("The population is 1,234,567.", 1234567, ""),
    ("The factorial of 10 is 3,628,800.", 3628800, ""),
    ("The first three primes are 2, 3, 5.", 5, "last number"),
    ("The numbers 1, 2, 3 sum to 6.", 6, "last number"),
    ("The distance is 1.2e5 km.", 120000, ""),
    ("The speed is 1.2 × 10^5 m/s.", 120000, ""),
    ("$v = 1.2 \\times 10^{5}$", 120000, ""),
    ("It is about 3 x 10^8 m/s.", 3e8, ""),
    ("There are 10^6 of them.", 1e6, ""),
    ("The side length is 25 cm.", 25, ""),
    ("The annual revenue is $200 million.", 2e8, ""),
    ("Revenue was approximately 200 million AUD.", 2e8, ""),
    ("The market is worth 1.5 billion dollars.", 1.5e9, ""),
    ("Thus, the total cost is $1,250.50.", 1250.5, "thus"),
    ("The answer is \\( 25 \\).", 25, "answer"),
    ("$25$", 25, ""),
    ("The result is 1{,}234.", 1234, ""),
    ("The final answer is 42. (Step 3 verified.)", 42, "final answer"),
    ("In 2024, the answer is 3.", 3, "answer"),
    ("So the result is 0.5.", 0.5, "result"),
    ("There are 7 days in a week.", 7, "last number"),
    ("The GCD of 3628800 and 40320 is 40320.", 40320, "last number"),
    ("GCD(3628800, 40320) = 40320", 40320, "equation"),
    ("> What is 7 times 6?\n\n7 × 6 = 42", 42, ""),
    ("The area is approximately 3.14159 square units.", 3.14159, ""),
    ("f(g(1)) = (1 + 3)^2 = 16", 16, "equation"),
    ("Version 9.11.1 was released, and it has 3 fixes.", 3, "last number"),
    ("It's the 3rd option.", None, ""),
    ("No numbers here at all.", None, ""),
    ("", None, ""),
]


@pytest.mark.parametrize(("text", "expected", "rule"), ANSWERS,
                         ids=[f"{i:02d}-{t[:30]!r}" for i, (t, _, _) in enumerate(ANSWERS)])
def test_final_answer(text: str, expected: float | None, rule: str) -> None:
    answer = final_answer(text)
    if expected is None:
        assert answer is None, answer
        return
    assert answer is not None
    assert math.isclose(answer.value, expected, rel_tol=1e-9), (answer.mention, answer.rule)
    assert rule.lower() in answer.rule.lower(), answer.rule


@pytest.mark.parametrize(("text", "value"), [
    ("1,234,567", 1234567), ("3/4", 0.75), ("\\frac{3}{4}", 0.75), ("25%", 25),
    ("$200 million", 2e8), ("-3.5", -3.5), ("1.2e-3", 0.0012), (".5", 0.5), ("  42 ", 42),
    ("1.2 × 10^5", 120000),
])
def test_parse_number_reads_whole_numbers(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["about 5", "500+", "1, 2", "more than 500", "x", "", "1/0"])
def test_parse_number_rejects_everything_else(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(("text", "why"), [
    ("Step 3: done", "step"), ("1. First item", "enumerator"), ("g(1)", "argument"),
    ("at x = 1", "binding"), ("16 + 8", "operand"), ("x^2", "operand"), ("2x + 1", "coefficient"),
    ("the 3rd", "ordinal"), ("> quoted 5", "quoted"),
])
def test_numbers_say_why_they_cannot_be_answers(text: str, why: str) -> None:
    assert why in numbers(text)[0].ignored


def test_lists_are_not_thousands_and_versions_are_not_numbers() -> None:
    assert [m.value for m in numbers("1, 2, 3 and 1,2,3")] == [1, 2, 3, 1, 2, 3]
    assert numbers("release 9.11.1 of 2.0.0") == []
    assert [m.value for m in numbers("12,345 vs 12,34")] == [12345, 12, 34]


@pytest.mark.parametrize(("actual", "op", "expected", "abs_tol", "rel_tol", "ok"), [
    (25.0, "==", 25.0, None, None, True),
    (25.0 + 1e-12, "==", 25.0, None, None, True),
    (25.001, "==", 25.0, None, None, False),
    (25.001, "==", 25.0, 0.01, None, True),
    (101.0, "==", 100.0, None, 0.02, True),
    (24.0, "!=", 25.0, None, None, True),
    (25.0, "<", 25.0, None, None, False),
    (25.0, "<=", 25.0, None, None, True),
    (26.0, ">", 25.0, None, None, True),
    (25.0, ">=", 25.0 + 1e-12, None, None, True),
    (5.0, "in", [3.0, 5.0], None, None, True),
    (4.0, "in", [3.0, 5.0], None, None, False),
])
def test_compare(actual: float, op: str, expected: float | list[float], abs_tol: float | None,
                 rel_tol: float | None, ok: bool) -> None:
    assert compare(actual, op, expected, abs_tol, rel_tol) is ok


def _case(prompt: str = "q") -> CaseSpec:
    return CaseSpec("s/c", "s", "c", (), (Message("user", prompt),), {}, 1, ("m",), ())


def _number(text: str, **params: object) -> tuple[Status, str, dict]:
    p = {"op": "==", "value": 25.0, "abs_tol": None, "rel_tol": None, **params}
    r = check_number(CheckSpec("number", p, "number == 25"), _case(), ModelResponse(text))
    return r.status, r.reason, dict(r.evidence)


def test_reason_names_the_value_and_the_rule() -> None:
    status, reason, ev = _number("Let me think. The answer is 24.")
    assert status is Status.FAIL
    assert reason == "final answer 24 ≠ 25 (found by 'the answer is')"
    assert ev["value"] == 24 and ev["as_written"] == "24" and ev["rule"] == "'the answer is'"
    start, end = ev["span"]
    assert "Let me think. The answer is 24."[start:end] == "24"


def test_pass_on_the_s2_answer_with_evidence() -> None:
    status, reason, ev = _number(S2_GPT4O)
    assert status is Status.PASS
    assert reason.startswith("final answer 25 = 25")
    assert "25" in ev["context"]


def test_scale_words_show_as_written() -> None:
    status, reason, _ = _number("Revenue: $200 million.", value=2e8)
    assert status is Status.PASS
    assert "'$200 million'" in reason


def test_ordering_membership_and_tolerance() -> None:
    assert _number("x = 30", op="<", value=25.0)[1].startswith("final answer 30 ≥ 25")
    assert _number("x = 3.1416", value=3.14159, abs_tol=0.001)[0] is Status.PASS
    assert "within ±0.001" in _number("x = 3.1416", value=3.14159, abs_tol=0.001)[1]
    status, reason, _ = _number("x = 7", op="in", values=[3.0, 5.0])
    assert status is Status.FAIL and "is not one of 3, 5" in reason


@pytest.mark.parametrize(("text", "reason"), [
    ("", "the answer is empty"),
    ("   \n ", "the answer is empty"),
    ("No numbers here.", "no number in the answer"),
    ("Step 1: read. Step 2: write.", "no final answer: the only numbers are '1' (step"),
])
def test_no_answer_fails_with_a_reason(text: str, reason: str) -> None:
    status, got, _ = _number(text)
    assert status is Status.FAIL
    assert got.startswith(reason)


def test_garbage_and_binary_never_raise() -> None:
    noise = bytes(range(256)).decode("latin-1") * 50 + "\ud800\x00=25"
    status, _, _ = _number(noise)
    assert status in (Status.PASS, Status.FAIL)


def test_huge_answers_are_bounded() -> None:
    # 10 MB of dense arithmetic with the answer at the end.
    text = "1 + 2 = 3, " * 1_000_000 + "so the answer is 25."
    t0 = time.perf_counter()
    status, reason, ev = _number(text)
    assert time.perf_counter() - t0 < 5
    assert status is Status.PASS, reason
    assert "last 50,000" in ev["scanned"]


async def test_registered_under_number() -> None:
    r = await lookup("number")(CheckSpec("number", {"op": "==", "value": 25.0, "abs_tol": None,
                                                    "rel_tol": None}, "number == 25"),
                               _case(), ModelResponse("**25**"), None)  # type: ignore[arg-type]
    assert r.status is Status.PASS


@settings(max_examples=300, deadline=None)
@given(st.lists(st.characters(codec="utf-8") | st.sampled_from(
    [*"0123456789.,-+=*/^()[]{}$%\\ \n", "\\boxed{", "\\frac", "Step ", "answer is ", "**",
     "million", "× 10^"])).map("".join))
def test_never_raises_on_any_text(text: str) -> None:
    answer = final_answer(text)
    if answer is not None:
        assert text[answer.mention.start:answer.mention.end] == answer.mention.text
        assert not answer.mention.ignored or answer.rule == "\\boxed{}"


def test_latex_dollars_are_not_currency() -> None:
    (m,) = numbers("$25$")
    assert (m.text, m.unit) == ("25", "")
    (m,) = numbers("It costs $25 today.")
    assert (m.text, m.unit) == ("$25", "$")
    (m,) = numbers("$\\frac{3}{4}$")
    assert (m.text, m.value) == ("\\frac{3}{4}", 0.75)
