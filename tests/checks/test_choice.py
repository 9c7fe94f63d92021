"""Which option an answer concludes for, and the `choice` check (S1: "Which is larger, 9.11 or
9.9?").

ANSWERS holds answers in the styles models write, including the traps: a long discussion of
9.11 that concludes 9.9, "9.11 is larger", hedged wrong reasoning, self-corrections, negations,
numbers that look like the options (9.1, 99, 9.110, 9.11.1).
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalspec.checks.base import lookup
from evalspec.checks.numbers import check_choice
from evalspec.extract.choice import choose, polarity
from evalspec.outcome import Status
from evalspec.plan import CaseSpec, CheckSpec, Message
from evalspec.response import ModelResponse

Q = "Which is larger, 9.11 or 9.9?"
OPTS = ["9.11", "9.9"]

GPT4O = """9.9 is larger than 9.11.

To compare them, look at the digits after the decimal point: 9.9 is the same as 9.90, and
0.90 is greater than 0.11. Therefore, **9.9** is the larger number."""

LLAMA_WRONG = """To determine which is larger, we compare the numbers 9.11 and 9.9.

9.11 is larger than 9.9 because 11 is greater than 9 in the decimal part.

Therefore, 9.11 is the larger number."""

LONG_DISCUSSION = """Let's think about 9.11 carefully. At first glance, 9.11 might look larger,
because 11 is more than 9, and many people read 9.11 as "nine point eleven". In software versions,
9.11 would even come after 9.9. It is tempting to conclude that 9.11 wins. But decimals are
compared place by place: the tenths digit of 9.11 is 1, the tenths digit of 9.9 is 9, and
9 > 1. Writing both with two decimals makes it obvious: 9.11 versus 9.90.

So 9.9 is larger."""

STEPWISE = """## Step 1: Compare the whole number parts
Both numbers have the same whole part: 9 = 9.

## Step 2: Compare the tenths
The tenths digit of 9.11 is 1, and the tenths digit of 9.9 is 9. Since 9 > 1, 9.9 is greater.

The final answer is: $\\boxed{9.9}$"""

SELF_CORRECTION = """9.11 is larger, since 11 > 9.

Wait, that's not right. Actually, 9.9 is larger: 9.90 > 9.11."""

# (answer, the option it concludes for, or "none" / "ambiguous")
ANSWERS: list[tuple[str, str]] = [
    (GPT4O, "9.9"),
    (LLAMA_WRONG, "9.11"),
    (LONG_DISCUSSION, "9.9"),
    (STEPWISE, "9.9"),
    (SELF_CORRECTION, "9.9"),
    ("9.9 is larger.", "9.9"),
    ("9.9", "9.9"),
    ("**9.9**", "9.9"),
    ("**9.9** is larger.", "9.9"),
    ("9.90 is larger.", "9.9"),
    ("9.9 is bigger than 9.11.", "9.9"),
    ("9.11 is larger than 9.9.", "9.11"),
    ("9.11 is larger.", "9.11"),
    ("9.11 is greater than 9.90", "9.11"),
    ("9.11 is smaller, so 9.9 is bigger.", "9.9"),
    ("9.11 is smaller than 9.9.", "9.9"),
    ("9.11 is less than 9.9", "9.9"),
    ("The larger number is 9.9.", "9.9"),
    ("The larger number between 9.11 and 9.9 is 9.9.", "9.9"),
    ("The bigger one is 9.11.", "9.11"),
    ("Larger: 9.9", "9.9"),
    ("Answer: 9.9", "9.9"),
    ("**Answer:** 9.9", "9.9"),
    ("The answer is 9.9.", "9.9"),
    ("The answer is **9.11**.", "9.11"),
    ("Comparing the two, 9.9 > 9.11, so the answer is **9.9**.", "9.9"),
    ("9.9 > 9.11", "9.9"),
    ("$9.9 > 9.11$", "9.9"),
    ("9.11 < 9.9", "9.9"),
    ("9.9 ≥ 9.11", "9.9"),
    ("9.11 > 9.9", "9.11"),
    ("\\( 9.9 \\gt 9.11 \\)", "9.9"),
    ("9.11 is not larger than 9.9.", "9.9"),
    ("9.11 is not larger.", "9.9"),
    ("9.11 isn't the larger number; 9.9 is.", "9.9"),
    ("9.9 is not smaller than 9.11.", "9.9"),
    ("9.9 exceeds 9.11.", "9.9"),
    ("9.9 has the greater value.", "9.9"),
    ("I think 9.9 is larger.", "9.9"),
    ("9.9 is clearly the larger of the two.", "9.9"),
    ("9.11 looks larger, but 9.9 is actually larger.", "9.9"),
    ("A common mistake is to think 9.11 is larger. 9.9 is larger.", "9.9"),
    ("Many people think 9.11 is larger because 11 > 9, but 9.9 is larger.", "9.9"),
    ("It may seem that 9.11 is larger. In fact, 9.9 > 9.11.", "9.9"),
    ("Is 9.11 larger than 9.9? No. 9.9 is larger.", "9.9"),
    ("To compare 9.11 and 9.9, look at the tenths digit: 1 vs 9. Since 9 > 1, "
     "9.9 is the larger number.", "9.9"),
    ("Since 0.9 > 0.11, 9.9 > 9.11.", "9.9"),
    ("9.9 - 9.11 = 0.79, which is positive, so 9.9 is larger.", "9.9"),
    ("\\boxed{9.9}", "9.9"),
    ("Let me compare them.\n\n9.9", "9.9"),
    ("9.11 is larger. 9.9 is larger.", "ambiguous"),
    ("9.9 is larger than 9.11. Also, 9.11 is larger than 9.9.", "ambiguous"),
    ("Both numbers are equal.", "none"),
    ("They are different numbers: 9.11 and 9.9.", "none"),
    ("9.1 is larger than 99.", "none"),
    ("9.110 is larger than 9.9.", "9.11"),
    ("Version 9.11.1 is newer, and 9.9 is larger.", "9.9"),
    ("The answer is 99.", "none"),
    ("I'm not sure.", "none"),
    ("It might seem that 9.11 is larger.", "none"),
    ("", "none"),
]


@pytest.mark.parametrize(("text", "verdict"), ANSWERS,
                         ids=[f"{i:02d}-{t[:30]!r}" for i, (t, _) in enumerate(ANSWERS)])
def test_choose(text: str, verdict: str) -> None:
    c = choose(text, OPTS, Q)
    if verdict in ("none", "ambiguous"):
        assert c.status == verdict, c
        assert c.option is None
    else:
        assert c.status == "chosen", c
        assert c.option == verdict, c


@pytest.mark.parametrize(("text", "options", "question", "verdict"), [
    ("The capital of France is Paris.", ["Paris", "Lyon"], "What is the capital of France?",
     "Paris"),
    ("Lyon is a big city, but the capital is Paris, not Lyon.", ["Paris", "Lyon"], None,
     "Paris"),
    ("The answer is B.", ["A", "B", "C", "D"], None, "B"),
    ("**Answer: (C)**", ["A", "B", "C", "D"], None, "C"),
    ("A good way to see it: option B is correct.", ["A", "B"], None, "B"),
    ("B is correct.", ["A", "B"], None, "B"),
    ("I think A is wrong.", ["A", "B"], None, "B"),
    ("The correct option is paris", ["Paris", "Lyon"], None, "Paris"),
    # The question's polarity turns "larger" around.
    ("9.9 is larger, so 9.11 is smaller.", OPTS, "Which is smaller, 9.11 or 9.9?", "9.11"),
    ("9.9 is larger.", OPTS, "Which is smaller, 9.11 or 9.9?", "9.11"),
    ("3/4 is larger than 2/3.", ["2/3", "3/4"], "Which is larger, 2/3 or 3/4?", "3/4"),
    ("-5 is greater than -7.", ["-5", "-7"], "Which is greater?", "-5"),
])
def test_other_options_and_polarity(text: str, options: list[str], question: str | None,
                                    verdict: str) -> None:
    c = choose(text, options, question)
    assert (c.status, c.option) == ("chosen", verdict), c


def test_polarity() -> None:
    assert polarity("Which is larger, 9.11 or 9.9?") == "larger"
    assert polarity("Which number is smaller?") == "smaller"
    assert polarity(None, "The smaller of the two is 9.11") == "smaller"
    assert polarity("What is the capital of France?") == "larger"


def test_single_letters_are_not_articles() -> None:
    assert choose("A number is here, and B is correct.", ["A", "B"]).option == "B"
    assert choose("I believe the answer is A.", ["A", "I"]).option == "A"


def _case(prompt: str = Q) -> CaseSpec:
    return CaseSpec("s1/c", "s1", "c", (), (Message("user", prompt),), {}, 1, ("m",), ())


def _choice(text: str, expected: str = "9.9", options: list[str] | None = None
            ) -> tuple[Status, str, dict]:
    spec = CheckSpec("choice", {"options": options or OPTS, "expected": expected}, "choice 9.9")
    r = check_choice(spec, _case(), ModelResponse(text))
    return r.status, r.reason, dict(r.evidence)


def test_check_passes_and_quotes_the_deciding_statement() -> None:
    status, reason, ev = _choice(GPT4O)
    assert status is Status.PASS
    assert reason.startswith("concludes 9.9 (by ")
    assert ev["option"] == "9.9" and ev["verdict"]["quote"]


def test_check_fails_on_the_wrong_conclusion() -> None:
    status, reason, _ = _choice(LLAMA_WRONG)
    assert status is Status.FAIL
    assert reason.startswith("concludes 9.11, not 9.9")
    assert "9.11 is the larger number" in reason


def test_check_expected_matches_numerically() -> None:
    assert _choice("9.9 is larger.", expected="9.90")[0] is Status.PASS


def test_check_fails_on_ambiguity_and_on_no_conclusion() -> None:
    status, reason, ev = _choice("9.11 is larger. 9.9 is larger.")
    assert status is Status.FAIL
    assert reason == "ambiguous: claims 9.11 ('9.11 is larger') and 9.9 ('9.9 is larger')"
    assert len(ev["conflicts"]) == 2
    status, reason, _ = _choice("They are 9.11 and 9.9.")
    assert reason == "does not conclude for any option (mentions 9.11 ×1, 9.9 ×1)"
    assert _choice("No idea.")[1] == "mentions none of the options 9.11, 9.9"
    assert _choice("")[1] == "the answer is empty"


def test_garbage_and_huge_answers() -> None:
    noise = bytes(range(256)).decode("latin-1") * 100 + "\ud800"
    assert _choice(noise)[0] is Status.FAIL
    huge = "Let me compare 9.11 and 9.9 once more. " * 250_000 + "So 9.9 is larger."
    t0 = time.perf_counter()
    status, reason, _ = _choice(huge)
    assert time.perf_counter() - t0 < 5
    assert status is Status.PASS, reason


async def test_registered_under_choice() -> None:
    spec = CheckSpec("choice", {"options": OPTS, "expected": "9.9"}, "choice 9.9")
    r = await lookup("choice")(spec, _case(), ModelResponse("9.9"), None)  # type: ignore[arg-type]
    assert r.status is Status.PASS


@pytest.mark.parametrize(("text", "verdict"), [
    ("9.11 and 9.9, which is bigger? Line them up: 9.11 and 9.90. So 9.9 wins.", "9.9"),
    ("In terms of value, 9.9 is greater than 9.11. However, if these are version numbers, "
     "9.11 is greater than 9.9.", "9.9"),
    ("9.9 is larger. 9.11 is smaller. The difference is 0.79.", "9.9"),
    ("9.11 is larger than 9.9.\n\nHere's why: in the tenths place 9.11 has 1 and 9.9 has 9... "
     "wait, that means 9.9 is actually larger.\n\nCorrection: **9.9 is larger than 9.11.**",
     "9.9"),
    ("The answer is 9.11, because 11 hundredths is more than 9 tenths.", "9.11"),
])
def test_more_realistic_answers(text: str, verdict: str) -> None:
    c = choose(text, OPTS, Q)
    assert (c.status, c.option) == ("chosen", verdict), c


@settings(max_examples=300, deadline=None)
@given(st.lists(st.characters(codec="utf-8") | st.sampled_from(
    ["9.11", "9.9", "9.90", " is larger", " is not ", " > ", " < ", "**", ". ", "So ",
     "Answer: ", "\\boxed{", "}", "?", "\n", "A", "B"])).map("".join))
def test_never_raises_and_only_picks_options(text: str) -> None:
    c = choose(text, OPTS, Q)
    assert c.status in ("chosen", "none", "ambiguous")
    assert (c.option in OPTS) if c.status == "chosen" else c.option is None
    choose(text, ["A", "B", "C"])
