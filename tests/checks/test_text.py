"""The `text` check: contains, matches, affixes, equality, length, and the near-miss hints."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalspec.checks.base import lookup
from evalspec.checks.text import check_text
from evalspec.extract.textops import measure, normalise, text_check
from evalspec.outcome import Status
from evalspec.plan import CaseSpec, CheckSpec, Message
from evalspec.response import ModelResponse

ALPS = """The first light touches the summit of the Matterhorn, turning the snow a soft pink.
Mist lies in the valleys below.

By seven o'clock the whole range glows gold."""


def _case() -> CaseSpec:
    return CaseSpec("s/c", "s", "c", (), (Message("user", "q"),), {}, 1, ("m",), ())


def _text(text: str, op: str, value: str = "", **params: object) -> tuple[Status, str, dict]:
    p: dict[str, object] = {"op": op, "value": value, "ignore_case": False, "normalize": False}
    p.update(params)
    r = check_text(CheckSpec("text", p, f"text {op}"), _case(), ModelResponse(text))
    return r.status, r.reason, dict(r.evidence)


def test_contains_quotes_where() -> None:
    status, reason, ev = _text(ALPS, "contains", "Matterhorn")
    assert status is Status.PASS
    assert reason.startswith("found 'Matterhorn' at line 1, col 43: ")
    assert "summit of the Matterhorn, turning" in reason
    assert ev["position"] == [1, 43]


def test_contains_case_hint() -> None:
    status, reason, _ = _text("The capital is Paris.", "contains", "paris")
    assert status is Status.FAIL
    assert reason.startswith("'paris' not found (21 chars); found 'Paris' with different case")
    assert _text("The capital is Paris.", "contains", "paris", ignore_case=True)[0] is Status.PASS


def test_contains_spacing_and_prefix_hints() -> None:
    status, reason, _ = _text("Tech Innovation\n  Co., Ltd.", "contains", "Innovation Co.")
    assert status is Status.FAIL and "different spacing" in reason
    assert _text("Tech Innovation\n  Co., Ltd.", "contains", "Innovation Co.",
                 normalize=True)[0] is Status.PASS
    status, reason, _ = _text("Tech Innovation Ltd.", "contains", "Tech Innovation Co.")
    assert "closest: the first 16 of 19 characters occur at line 1, col 1" in reason


def test_contains_on_empty_answer() -> None:
    status, reason, _ = _text("", "contains", "x")
    assert status is Status.FAIL
    assert reason == "'x' not found (the answer is empty)"


def test_not_contains() -> None:
    assert _text(ALPS, "not_contains", "Everest")[0] is Status.PASS
    status, reason, ev = _text("As an AI, I... as an AI", "not_contains", "as an AI",
                               ignore_case=True)
    assert status is Status.FAIL
    assert reason.startswith("'as an AI' occurs 2 times, first at line 1, col 1")
    assert ev["count"] == 2


def test_matches() -> None:
    status, reason, ev = _text(ALPS, "matches", r"\b(\w+) o'clock")
    assert status is Status.PASS
    assert ev["match"] == "seven o'clock"
    assert "line 4" in reason
    status, reason, _ = _text("Sunrise", "matches", "^sunrise$")
    assert status is Status.FAIL and reason.endswith("it would match ignoring case")
    assert _text("Sunrise", "matches", "^sunrise$", ignore_case=True)[0] is Status.PASS


def test_invalid_regex_is_an_error_not_a_failure() -> None:
    status, reason, ev = _text("anything", "matches", "(unclosed")
    assert status is Status.ERROR
    assert reason.startswith("invalid regex /(unclosed/: missing ), unterminated subpattern")
    assert "regex_error" in ev


def test_starts_and_ends_with() -> None:
    assert _text(ALPS, "starts_with", "The first light")[0] is Status.PASS
    assert _text(ALPS, "ends_with", "glows gold.")[0] is Status.PASS
    status, reason, _ = _text("\n\nHello world\n", "starts_with", "Hello")
    assert status is Status.FAIL
    assert "after leading whitespace (try normalize)" in reason
    assert _text("\n\nHello world\n", "starts_with", "Hello", normalize=True)[0] is Status.PASS
    status, reason, _ = _text("Hello world", "ends_with", "WORLD")
    assert reason == "ends with 'Hello world', not 'WORLD'; it does ignoring case"
    assert _text("short", "ends_with", "much longer than the text")[0] is Status.FAIL


def test_equals_reports_the_first_difference() -> None:
    status, reason, ev = _text("Paris is the capital", "equals", "Paris is a capital")
    assert status is Status.FAIL
    assert reason.startswith("differs at char 10 (line 1, col 10): expected 'a capital', "
                             "got 'the capital'")
    assert ev["first_difference"] == 9
    status, reason, _ = _text("  Paris\n", "equals", "Paris")
    assert "equal after normalising whitespace" in reason
    assert _text("  PARIS\n", "equals", "paris", normalize=True, ignore_case=True)[0] \
        is Status.PASS


@pytest.mark.parametrize(("unit", "lo", "hi", "status", "reason"), [
    ("words", 10, 100, Status.PASS, "29 words, within 10..100"),
    ("words", 50, None, Status.FAIL, "29 words, fewer than the minimum 50"),
    ("lines", None, 3, Status.FAIL, "4 lines, more than the maximum 3"),
    ("chars", 1, None, Status.PASS, "161 chars, at least the minimum 1"),
])
def test_length(unit: str, lo: int | None, hi: int | None, status: Status, reason: str) -> None:
    r = check_text(CheckSpec("text", {"op": "length", "unit": unit, "min": lo, "max": hi}, "len"),
                   _case(), ModelResponse(ALPS))
    assert (r.status, r.reason) == (status, reason)


def test_measure_and_normalise() -> None:
    assert measure("", "lines") == 0 and measure("", "words") == 0
    assert measure("a\nb\n", "lines") == 2
    assert normalise(" a \u00a0 b\n\tc ") == "a b c"
    assert normalise("ﬁne") == "fine"


def test_garbage_never_raises() -> None:
    noise = bytes(range(256)).decode("latin-1") * 20 + "\ud800"
    for op in ("contains", "not_contains", "matches", "starts_with", "ends_with", "equals"):
        assert text_check(noise, op, "x\x00y").status in ("pass", "fail")


def test_huge_text_is_fast() -> None:
    huge = "lorem ipsum dolor sit amet " * 400_000  # ~10 MB
    t0 = time.perf_counter()
    assert _text(huge, "contains", "needle in the haystack", ignore_case=True)[0] is Status.FAIL
    assert _text(huge + "END", "ends_with", "END")[0] is Status.PASS
    assert _text(huge, "matches", r"amet\s+lorem")[0] is Status.PASS
    assert _text(huge, "equals", huge[:-1])[0] is Status.FAIL
    assert time.perf_counter() - t0 < 5


async def test_registered_under_text() -> None:
    spec = CheckSpec("text", {"op": "contains", "value": "Alps", "ignore_case": False,
                              "normalize": False}, "text contains 'Alps'")
    r = await lookup("text")(spec, _case(), ModelResponse("Sunrise in the Alps"),
                             None)  # type: ignore[arg-type]
    assert r.status is Status.PASS


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text(max_size=20), st.booleans(), st.booleans(),
       st.sampled_from(["contains", "not_contains", "starts_with", "ends_with", "equals"]))
def test_ops_never_raise_and_contains_agrees_with_python(text: str, value: str, ic: bool,
                                                         norm: bool, op: str) -> None:
    f = text_check(text, op, value, ignore_case=ic, normalize=norm)
    assert f.status in ("pass", "fail")
    if op == "contains" and not ic and not norm:
        assert (f.status == "pass") == (value in text)
    if op == "equals" and not ic and not norm:
        assert (f.status == "pass") == (text == value)
