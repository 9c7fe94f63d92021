"""The `calls` check: BFCL-style well-formedness, accepted values, matching and order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalspec.checks.base import run_check
from evalspec.checks.tools import evaluate_calls, normalise_string, value_matches
from evalspec.outcome import CheckResult, Status
from evalspec.plan import CheckSpec, Plan, ToolSpec
from evalspec.response import ModelResponse, ToolCall, ToolStep

from .seed import S4_PROMPT, S5_PROMPT, calls_spec, make_case, make_plan, seed_tools
from .test_parse import GPT4O_S4, LLAMA_S4

S4_EXPECTED = (("calculate_factorial", {"n": [10]}), ("calculate_factorial", {"n": [8]}))
GCD_OF_FACTORIALS = ("calculate_gcd", {"a": [3628800], "b": [40320]})


@dataclass
class Ctx:
    plan: Plan
    model: str = "m"
    sample: int = 0

    async def generate(self, *args: Any, **kwargs: Any) -> ModelResponse:
        raise AssertionError("the calls check never calls a model")


async def check(spec: CheckSpec, response: ModelResponse, *, tool_steps: int = 0,
                tools: dict[str, ToolSpec] | None = None, prompt: str = S4_PROMPT,
                case_tools: tuple[str, ...] | None = None) -> CheckResult:
    tools = tools if tools is not None else seed_tools()
    case = make_case(prompt, checks=(spec,), tool_steps=tool_steps,
                     tools=case_tools if case_tools is not None else tuple(tools))
    result = await run_check(spec, case, response, Ctx(make_plan(case, tools)))
    json.dumps(result.to_json())  # evidence must always serialise
    return result


def text(answer: str) -> ModelResponse:
    return ModelResponse(text=answer)


def action(*calls: tuple[str, Any]) -> ModelResponse:
    entries = [{"tool_name": n, "parameters": p} for n, p in calls]
    return ModelResponse(text="Action:\n'''\n" + json.dumps(entries, indent=4) + "\n'''")


def native(*calls: tuple[str, Any]) -> ModelResponse:
    out = []
    for k, (name, args) in enumerate(calls):
        if isinstance(args, str):  # the endpoint sent arguments that are not JSON
            out.append(ToolCall(name, args, args, f"call_{k}", "Expecting value: line 1"))
        else:
            out.append(ToolCall(name, args, json.dumps(args), f"call_{k}"))
    return ModelResponse(text="", tool_calls=tuple(out))


def trace(*steps: tuple[str, dict[str, Any], str], final: str = "") -> ModelResponse:
    executed = tuple(ToolStep(ToolCall(n, a, json.dumps(a)), out, True) for n, a, out in steps)
    return ModelResponse(text=final, tool_calls=tuple(s.call for s in executed), steps=executed)


# ------------------------------------------------------------------ S4


async def test_s4_llama_named_parameters_pass():
    result = await check(calls_spec(*S4_EXPECTED), text(LLAMA_S4))
    assert result.status is Status.PASS, result.reason
    assert result.reason == ("made the 2 expected call(s): calculate_factorial(n=10), "
                             "calculate_factorial(n=8)")
    assert result.evidence["source"] == "action"
    assert result.evidence["matched"] == [{"expected": 1, "call": 1}, {"expected": 2, "call": 2}]


async def test_s4_gpt4o_bare_values_pass():
    result = await check(calls_spec(*S4_EXPECTED), text(GPT4O_S4))
    assert result.status is Status.PASS, result.reason
    assert [c["arguments"] for c in result.evidence["calls"]] == [{"n": 10}, {"n": 8}]


async def test_s4_order_is_free_with_any_and_fixed_with_exact():
    swapped = action(("calculate_factorial", {"n": 8}), ("calculate_factorial", {"n": 10}))
    assert (await check(calls_spec(*S4_EXPECTED), swapped)).status is Status.PASS
    exact = await check(calls_spec(*S4_EXPECTED, order="exact"), swapped)
    assert exact.status is Status.FAIL
    assert exact.reason == ("call 1: calculate_factorial got n=8 (expected 10); "
                            "call 2: calculate_factorial got n=10 (expected 8); "
                            "all the expected calls were made, but in another order")


async def test_s4_wrong_value_names_the_argument():
    result = await check(calls_spec(*S4_EXPECTED),
                         action(("calculate_factorial", {"n": 10}), ("calculate_factorial", 9)))
    assert result.status is Status.FAIL
    assert result.reason == "calculate_factorial got n=9 (expected 8)"
    assert result.evidence["mismatches"] == [
        {"expected": 2, "call": 2, "reason": "calculate_factorial got n=9 (expected 8)"}]


async def test_missing_call():
    result = await check(calls_spec(*S4_EXPECTED), action(("calculate_factorial", {"n": 10})))
    assert result.status is Status.FAIL
    assert result.reason == "missing call calculate_factorial(n=8)"


async def test_unknown_tool_suggests_the_declared_one():
    result = await check(calls_spec(*S4_EXPECTED),
                         action(("calculate_fact", {"n": 10}), ("calculate_factorial", {"n": 8})))
    assert result.status is Status.FAIL
    assert result.reason == ("unknown tool calculate_fact — did you mean calculate_factorial?; "
                             "missing call calculate_factorial(n=10)")
    assert result.evidence["calls"][0]["problems"] == [
        "unknown tool calculate_fact — did you mean calculate_factorial?"]


async def test_unknown_tool_fails_even_when_extra_calls_are_allowed():
    response = action(("calculate_factorial", {"n": 10}), ("calculate_factorial", {"n": 8}),
                      ("send_email", {"to": "x"}))
    result = await check(calls_spec(*S4_EXPECTED, allow_extra=True), response)
    assert result.status is Status.FAIL
    assert result.reason == ("unknown tool send_email (declared: calculate_factorial, "
                             "calculate_gcd, is_prime)")


async def test_the_prompt_template_echoed_back_fails():
    result = await check(calls_spec(*S4_EXPECTED), text(S4_PROMPT))
    assert result.status is Status.FAIL
    assert result.reason.startswith('unknown tool "Tool name (choose from')


async def test_no_calls_at_all():
    result = await check(calls_spec(*S4_EXPECTED), text("10! = 3628800 and 8! = 40320."))
    assert result.status is Status.FAIL
    assert result.reason == (
        "no tool calls: the answer has no Action: list and no native tool calls (expected "
        "calculate_factorial(n=10), calculate_factorial(n=8)); the answer begins "
        "10! = 3628800 and 8! = 40320.")


async def test_empty_answer():
    result = await check(calls_spec(*S4_EXPECTED), text(""))
    assert result.status is Status.FAIL
    assert result.reason.endswith("the answer is empty")


async def test_malformed_action_block_fails_with_the_json_error():
    result = await check(calls_spec(*S4_EXPECTED),
                         text("Action:\n```\n[{\"tool_name\": \"calculate_factorial\", "
                              "\"parameters\": {\"n\": 10}, {\"n\" 8}]\n```"))
    assert result.status is Status.FAIL
    assert result.reason.startswith("no well-formed tool calls (expected calculate_factorial(n=10)"
                                    ", calculate_factorial(n=8)); Action block 1 is not valid JSON")


async def test_a_broken_block_beside_good_ones_still_fails():
    answer = LLAMA_S4 + "\nAction:\n```\n[{\"tool_name\": oops}]\n```"
    result = await check(calls_spec(*S4_EXPECTED), text(answer))
    assert result.status is Status.FAIL
    assert result.reason.startswith("Action block 2 is not valid JSON")


# ------------------------------------------------------------------ S5


async def test_s5_the_article_failure_gcd_of_made_up_values():
    run = trace(("calculate_factorial", {"n": 10}, "3628800"),
                ("calculate_factorial", {"n": 8}, "40320"),
                ("calculate_gcd", {"a": 10, "b": 8}, "2"),
                final="The GCD of 10! and 8! is 2.")
    result = await check(calls_spec(GCD_OF_FACTORIALS, source="trace", allow_extra=True), run,
                         tool_steps=4, prompt=S5_PROMPT)
    assert result.status is Status.FAIL
    assert result.reason == "calculate_gcd got a=10 (expected 3628800), b=8 (expected 40320)"
    assert result.evidence["source"] == "trace"
    assert result.evidence["trace"][2] == {"call": "calculate_gcd(a=10, b=8)", "ok": True,
                                           "output": "2"}


async def test_s5_correct_chain_passes():
    run = trace(("calculate_factorial", {"n": 10}, "3628800"),
                ("calculate_factorial", {"n": 8}, "40320"),
                ("calculate_gcd", {"a": 3628800, "b": 40320}, "40320"),
                final="The GCD is 40320.")
    spec = calls_spec(*S4_EXPECTED, GCD_OF_FACTORIALS, source="trace", order="exact")
    exact_fail = await check(spec, run, tool_steps=4, prompt=S5_PROMPT)
    # exact pins the factorials' order too: 10 then 8, as run here.
    assert exact_fail.status is Status.PASS, exact_fail.reason
    only_gcd = calls_spec(GCD_OF_FACTORIALS, source="trace", allow_extra=True)
    assert (await check(only_gcd, run, tool_steps=4)).status is Status.PASS
    strict = await check(calls_spec(GCD_OF_FACTORIALS, source="trace"), run, tool_steps=4)
    assert strict.status is Status.FAIL
    assert strict.reason == ("unexpected extra call calculate_factorial(n=10); "
                             "unexpected extra call calculate_factorial(n=8)")


async def test_s5_gcd_before_the_factorials_fails_in_order():
    run = trace(("calculate_gcd", {"a": 3628800, "b": 40320}, "40320"),
                ("calculate_factorial", {"n": 10}, "3628800"),
                ("calculate_factorial", {"n": 8}, "40320"))
    spec = calls_spec(*S4_EXPECTED, GCD_OF_FACTORIALS, order="exact", allow_extra=True,
                      source="trace")
    result = await check(spec, run, tool_steps=4)
    assert result.status is Status.FAIL
    assert result.reason == ("missing call calculate_gcd(a=3628800, b=40320) after call 3; "
                             "all the expected calls were made, but in another order")


async def test_trace_without_executed_tools():
    result = await check(calls_spec(GCD_OF_FACTORIALS, source="trace"),
                         ModelResponse(text="40320"), tool_steps=3)
    assert result.status is Status.FAIL
    assert result.reason == ("no tool was executed during the run "
                             "(expected calculate_gcd(a=3628800, b=40320))")


async def test_trace_on_a_single_turn_case_is_a_spec_error():
    result = await check(calls_spec(GCD_OF_FACTORIALS, source="trace"), text(LLAMA_S4))
    assert result.status is Status.ERROR
    assert "tool_steps is 0" in result.reason


# ------------------------------------------------------------------ native calls


async def test_native_calls_pass():
    response = native(("calculate_factorial", {"n": 8}), ("calculate_factorial", {"n": 10}))
    result = await check(calls_spec(*S4_EXPECTED, source="native"), response)
    assert result.status is Status.PASS, result.reason
    assert result.evidence["source"] == "native"


@pytest.mark.parametrize("garbage", ['{"n": 10', "n=10", "", "\x00\xff\ufffd" * 50,
                                     "{" * 5000, "x" * 2_000_000])
async def test_native_garbage_arguments_fail_clearly(garbage):
    response = native(("calculate_factorial", garbage), ("calculate_factorial", {"n": 8}))
    result = await check(calls_spec(*S4_EXPECTED), response)
    assert result.status is Status.FAIL
    assert result.reason.startswith("calculate_factorial arguments are not valid JSON "
                                    "(Expecting value: line 1): ")
    assert len(result.reason) < 300
    assert len(json.dumps(result.to_json())) < 20_000


async def test_native_arguments_that_are_not_an_object():
    result = await check(calls_spec(*S4_EXPECTED), native(("calculate_factorial", [10]),
                                                          ("calculate_factorial", {"n": 8})))
    assert result.status is Status.FAIL
    assert result.reason == "calculate_factorial arguments must be a JSON object, got array [10]"


async def test_native_source_hints_at_an_action_list():
    result = await check(calls_spec(*S4_EXPECTED, source="native"), text(LLAMA_S4))
    assert result.status is Status.FAIL
    assert result.reason.startswith("no native tool calls; the answer wrote an Action: list "
                                    "instead (source action reads it)")


# ------------------------------------------------------------------ types and arguments


async def test_numeric_string_is_a_type_error_said_plainly():
    result = await check(calls_spec(*S4_EXPECTED), native(("calculate_factorial", {"n": "10"}),
                                                          ("calculate_factorial", {"n": 8})))
    assert result.status is Status.FAIL
    assert result.reason == ('calculate_factorial got n="10", a string; n is declared integer '
                             "(a number in quotes is a string, not a number)")


async def test_missing_required_and_unknown_arguments():
    result = await check(calls_spec(GCD_OF_FACTORIALS),
                         native(("calculate_gcd", {"a": 3628800, "c": 40320})))
    assert result.status is Status.FAIL
    assert result.reason == ("calculate_gcd got unknown argument c; "
                             "calculate_gcd is missing required argument b")


def _weather_tools() -> dict[str, ToolSpec]:
    return {"get_weather": ToolSpec("get_weather", "Current weather.", {
        "type": "object",
        "properties": {"city": {"type": "string"},
                       "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                                "default": "celsius"},
                       "days": {"type": "number"}},
        "required": ["city"]})}


async def test_int_is_a_number_and_strings_compare_like_bfcl():
    spec = calls_spec(("get_weather", {"city": ["San Francisco, CA", "SF"], "days": [3.0]}))
    ok = native(("get_weather", {"city": "san francisco ca", "days": 3}))
    result = await check(spec, ok, tools=_weather_tools())
    assert result.status is Status.PASS, result.reason
    wrong = await check(spec, native(("get_weather", {"city": "Los Angeles", "days": 3})),
                        tools=_weather_tools())
    assert wrong.status is Status.FAIL
    assert wrong.reason == ('get_weather got city="Los Angeles" '
                            '(expected "San Francisco, CA" or "SF")')


async def test_omitted_optional_argument_passes_when_its_default_is_accepted():
    tools = _weather_tools()
    spec = calls_spec(("get_weather", {"city": ["Paris"], "unit": ["celsius"]}))
    assert (await check(spec, native(("get_weather", {"city": "Paris"})), tools=tools)).passed
    spec_f = calls_spec(("get_weather", {"city": ["Paris"], "unit": ["fahrenheit"]}))
    result = await check(spec_f, native(("get_weather", {"city": "Paris"})), tools=tools)
    assert result.reason == 'get_weather got no unit (expected "fahrenheit")'


async def test_enum_violation_uses_the_schema_message():
    result = await check(calls_spec(("get_weather", {"city": ["Paris"]})),
                         native(("get_weather", {"city": "Paris", "unit": "kelvin"})),
                         tools=_weather_tools())
    assert result.status is Status.FAIL
    assert result.reason == ("get_weather got unit=\"kelvin\": 'kelvin' is not one of "
                             "['celsius', 'fahrenheit']")


# ------------------------------------------------------------------ matching


async def test_duplicated_call_is_an_unexpected_extra():
    response = action(("calculate_factorial", {"n": 10}), ("calculate_factorial", {"n": 10}),
                      ("calculate_factorial", {"n": 8}))
    result = await check(calls_spec(*S4_EXPECTED), response)
    assert result.status is Status.FAIL
    assert result.reason == "unexpected extra call calculate_factorial(n=10) (a repeat of call 1)"
    assert result.evidence["extra"] == [2]
    allowed = await check(calls_spec(*S4_EXPECTED, allow_extra=True), response)
    assert allowed.status is Status.PASS
    assert allowed.reason.endswith("; 1 extra call(s) allowed")


async def test_parallel_calls_need_a_real_matching_not_greedy():
    # Greedy, in expected order, would give n=10 to the first expectation and leave the
    # second (only n=10) with n=8. The maximum matching pairs them the other way round.
    spec = calls_spec(("calculate_factorial", {"n": [10, 8]}), ("calculate_factorial", {"n": [10]}))
    response = native(("calculate_factorial", {"n": 10}), ("calculate_factorial", {"n": 8}))
    result = await check(spec, response)
    assert result.status is Status.PASS, result.reason
    assert result.evidence["matched"] == [{"expected": 1, "call": 2}, {"expected": 2, "call": 1}]


async def test_many_parallel_calls_in_reverse_order():
    expected = [("is_prime", {"n": [k]}) for k in range(60)]
    response = native(*[("is_prime", {"n": k}) for k in reversed(range(60))])
    passed = await check(calls_spec(*expected), response)
    assert passed.status is Status.PASS
    assert passed.reason == ("made the 60 expected call(s): is_prime(n=59), is_prime(n=58), "
                             "is_prime(n=57), is_prime(n=56), is_prime(n=55) and 55 more")
    response = native(*[("is_prime", {"n": k}) for k in reversed(range(1, 61))])
    result = await check(calls_spec(*expected), response)
    assert result.status is Status.FAIL
    assert result.reason == "is_prime got n=60 (expected 0)"


async def test_subset_allows_extra_calls():
    response = action(("is_prime", {"n": 7}), ("calculate_factorial", {"n": 8}),
                      ("calculate_factorial", {"n": 10}))
    assert (await check(calls_spec(*S4_EXPECTED, order="subset"), response)).passed
    assert not (await check(calls_spec(*S4_EXPECTED, order="any"), response)).passed


async def test_exact_with_extras_between():
    response = action(("calculate_factorial", {"n": 10}), ("is_prime", {"n": 3}),
                      ("calculate_factorial", {"n": 8}))
    loose = await check(calls_spec(*S4_EXPECTED, order="exact", allow_extra=True), response)
    assert loose.status is Status.PASS, loose.reason
    strict = await check(calls_spec(*S4_EXPECTED, order="exact"), response)
    assert strict.status is Status.FAIL
    assert strict.reason == "unexpected extra call is_prime(n=3)"
    swapped = action(("calculate_factorial", {"n": 8}), ("is_prime", {"n": 3}))
    strict = await check(calls_spec(*S4_EXPECTED, order="exact"), swapped)
    assert strict.reason == ("call 1: calculate_factorial got n=8 (expected 10); "
                             "call 2 is is_prime(n=3), expected calculate_factorial(n=8)")


async def test_expecting_no_call():
    spec = calls_spec()
    assert (await check(spec, text("I can answer that directly: 3628800."))).reason == (
        "no tool call, as expected")
    result = await check(spec, text(LLAMA_S4))
    assert result.status is Status.FAIL
    assert result.reason == ("unexpected extra call calculate_factorial(n=10); "
                             "unexpected extra call calculate_factorial(n=8)")


# ------------------------------------------------------------------ spec errors


async def test_expected_tool_not_declared_is_a_spec_error():
    result = await check(calls_spec(("calculate_lcm", {"a": [1]})), text(LLAMA_S4))
    assert result.status is Status.ERROR
    assert "calculate_lcm" in result.reason


async def test_case_tools_restrict_what_is_declared():
    result = await check(calls_spec(("calculate_factorial", {"n": [10]}), allow_extra=True),
                         action(("calculate_factorial", {"n": 10}), ("is_prime", {"n": 7})),
                         case_tools=("calculate_factorial",))
    assert result.status is Status.FAIL
    assert result.reason == "unknown tool is_prime (declared: calculate_factorial)"


async def test_invalid_tool_schema_is_an_error_not_a_failure():
    tools = {"t": ToolSpec("t", "", {"type": "object", "properties": {"x": {"type": "integr"}}})}
    result = await check(calls_spec(("t", {"x": [1]})), native(("t", {"x": 1})), tools=tools)
    assert result.status is Status.ERROR
    assert result.reason.startswith("the declared parameters of tool t are not a valid JSON Schema")


# ------------------------------------------------------------------ values


@pytest.mark.parametrize(("actual", "accepted", "same"), [
    (10, 10, True), (10, 10.0, True), (10.0, 10, True), (True, 1, False), (1, True, False),
    ("10", 10, False), (None, None, True), ("New York", "new-york", True),
    ("  Los   Angeles ", "los angeles", True), ("a+b", "ab", False), ([1, "X"], [1, "x"], True),
    ([1, 2], [2, 1], False), ({"k": "V"}, {"k": "v"}, True), ({"k": 1}, {"k": 1, "j": 2}, False),
    (10**400, 1e300, False), (0.1 + 0.2, 0.3, True),
])
def test_value_matches(actual, accepted, same):
    assert value_matches(actual, accepted) is same


def test_normalise_string():
    assert normalise_string("San Francisco, CA.") == "sanfranciscoca"
    assert normalise_string("x^2 - 1") == "x21"


@settings(max_examples=150, deadline=None)
@given(answer=st.text(max_size=400),
       args=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                         lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                         max_leaves=12))
def test_the_check_never_raises(answer, args):
    response = ModelResponse(text="Action: " + answer,
                             tool_calls=(ToolCall("calculate_factorial", args, "", "c"),))
    for source in ("auto", "action"):
        result = evaluate_calls(
            {"calls": [{"name": "calculate_factorial", "args": {"n": [10]}}], "order": "any",
             "allow_extra": False, "source": source}, response, seed_tools())
        assert result.status in (Status.PASS, Status.FAIL)
        json.dumps(result.to_json())


async def test_a_trace_tolerates_failed_steps_only_when_extras_are_allowed():
    failed = ToolStep(ToolCall("calculate_fact", {"n": 10}, '{"n": 10}'),
                      "unknown tool calculate_fact — did you mean calculate_factorial?", False)
    bad_gcd = ToolStep(ToolCall("calculate_gcd", {"a": "3628800", "b": 40320}), "error", False)
    good = trace(("calculate_factorial", {"n": 10}, "3628800"),
                 ("calculate_factorial", {"n": 8}, "40320"),
                 ("calculate_gcd", {"a": 3628800, "b": 40320}, "40320"))
    recovered = ModelResponse(text="40320", steps=(failed, *good.steps))
    loose = calls_spec(GCD_OF_FACTORIALS, source="trace", allow_extra=True)
    assert (await check(loose, recovered, tool_steps=5)).status is Status.PASS
    strict = await check(calls_spec(*S4_EXPECTED, GCD_OF_FACTORIALS, source="trace"), recovered,
                         tool_steps=5)
    assert strict.reason == "unknown tool calculate_fact — did you mean calculate_factorial?"

    never_fixed = ModelResponse(text="?", steps=(*good.steps[:2], bad_gcd))
    result = await check(loose, never_fixed, tool_steps=5)
    assert result.status is Status.FAIL
    assert result.reason == ('missing call calculate_gcd(a=3628800, b=40320) (call 3: '
                             'calculate_gcd got a="3628800", a string; a is declared integer '
                             '(a number in quotes is a string, not a number))')


async def test_a_bare_value_that_cannot_bind_fails_with_the_binding_reason():
    result = await check(calls_spec(GCD_OF_FACTORIALS), action(("calculate_gcd", 3628800)))
    assert result.status is Status.FAIL  # 3628800 binds to a, and b is missing
    assert result.reason == "calculate_gcd is missing required argument b"
    result = await check(calls_spec(("calculate_factorial", {"n": [10]})),
                         action(("calculate_factorial", [10, 8, 6])))
    assert result.reason == "calculate_factorial takes 1 parameter(s) (n), got 3 values [10, 8, 6]"
