"""Reading tool calls back: the seed's `Action:` text protocol and native function calls."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalspec.extract.toolcalls import (
    extract_calls,
    lenient_loads,
    parameter_order,
    parse_actions,
)
from evalspec.plan import ToolSpec
from evalspec.response import ModelResponse, ToolCall

from .seed import S4_PROMPT, seed_tools

TOOLS = seed_tools()

# S4 answered the way the article says Llama-3.1-405B did: named parameters.
LLAMA_S4 = """To calculate the factorials of 10 and 8, I will call calculate_factorial twice.

Action:
'''
[
    {
        "tool_name": "calculate_factorial",
        "parameters": {"n": 10}
    },
    {
        "tool_name": "calculate_factorial",
        "parameters": {"n": 8}
    }
]
'''
"""

# ... and the way it says GPT-4o did: bare values in place of the parameter object.
GPT4O_S4 = """Action:
```json
[
    {
        "tool_name": "calculate_factorial",
        "parameters": "10"
    },
    {
        "tool_name": "calculate_factorial",
        "parameters": "8"
    }
]
```"""


def named(result) -> list[tuple[str, object]]:
    return [(c.name, c.arguments) for c in result.calls]


def test_llama_named_parameters():
    result = parse_actions(LLAMA_S4, TOOLS)
    assert named(result) == [("calculate_factorial", {"n": 10}),
                             ("calculate_factorial", {"n": 8})]
    assert result.source == "action"
    assert result.problems == ()
    assert result.calls[0].raw_arguments == '{"n": 10}'
    assert result.calls[0].parse_error is None


def test_gpt4o_bare_values_bind_to_the_single_parameter():
    result = parse_actions(GPT4O_S4, TOOLS)
    assert named(result) == [("calculate_factorial", {"n": 10}),
                             ("calculate_factorial", {"n": 8})]
    assert result.calls[1].raw_arguments == '"8"'


@pytest.mark.parametrize("params", ['10', '"10"', '[10]', '"[10]"', '" 10 "', '"n=10"',
                                    '{"n": 10}', '[{"n": 10}]', '"{\\"n\\": 10}"'])
def test_bare_value_shapes(params):
    text = f'Action:\n[{{"tool_name": "calculate_factorial", "parameters": {params}}}]'
    (call,) = parse_actions(text, TOOLS).calls
    assert call.arguments == {"n": 10}, params
    assert call.parse_error is None


@pytest.mark.parametrize("params", ['[3628800, 40320]', '"3628800, 40320"',
                                    '"a=3628800, b=40320"', '"a: 3628800, b: 40320"',
                                    '"(3628800, 40320)"', '{"a": 3628800, "b": 40320}'])
def test_two_parameters_bind_in_declared_order(params):
    text = f'Action:\n[{{"tool_name": "calculate_gcd", "parameters": {params}}}]'
    (call,) = parse_actions(text, TOOLS).calls
    assert call.arguments == {"a": 3628800, "b": 40320}, params


def test_named_parameters_keep_their_names_whatever_the_order():
    text = 'Action: [{"tool_name": "calculate_gcd", "parameters": {"b": 40320, "a": 3628800}}]'
    (call,) = parse_actions(text, TOOLS).calls
    assert call.arguments == {"b": 40320, "a": 3628800}


def test_positional_order_is_required_first_even_when_keys_are_sorted():
    tool = ToolSpec("power", "", {"type": "object", "required": ["x", "exponent"],
                                  "properties": {"exponent": {"type": "integer"},
                                                 "modulo": {"type": "integer"},
                                                 "x": {"type": "integer"}}})
    assert parameter_order(tool) == ["x", "exponent", "modulo"]
    (call,) = parse_actions('Action: [{"tool_name": "power", "parameters": [2, 10, 7]}]',
                            {"power": tool}).calls
    assert call.arguments == {"x": 2, "exponent": 10, "modulo": 7}


def test_a_string_parameter_keeps_a_numeric_looking_string():
    tool = ToolSpec("lookup", "", {"type": "object", "properties": {"code": {"type": "string"}},
                                   "required": ["code"]})
    (call,) = parse_actions('Action: [{"tool_name": "lookup", "parameters": "10"}]',
                            {"lookup": tool}).calls
    assert call.arguments == {"code": "10"}


def test_too_many_bare_values_is_a_binding_error():
    (call,) = parse_actions('Action: [{"tool_name": "calculate_factorial", '
                            '"parameters": [10, 8]}]', TOOLS).calls
    assert call.arguments == [10, 8]
    assert call.parse_error == ("calculate_factorial takes 1 parameter(s) (n), got 2 values "
                                "[10, 8]")


def test_bare_value_for_an_undeclared_tool_is_kept_as_written():
    (call,) = parse_actions('Action: [{"tool_name": "calculate_fact", "parameters": 10}]',
                            TOOLS).calls
    assert call.name == "calculate_fact"
    assert call.arguments == 10
    assert "calculate_fact is not declared" in (call.parse_error or "")


def test_lenient_single_quotes_and_trailing_commas():
    text = """Action:
'''
[
    {'tool_name': 'calculate_factorial', 'parameters': {'n': 10},},
    {'tool_name': 'calculate_factorial', 'parameters': {'n': 8},},
]
'''"""
    result = parse_actions(text, TOOLS)
    assert named(result) == [("calculate_factorial", {"n": 10}),
                             ("calculate_factorial", {"n": 8})]
    assert result.problems == ()


def test_python_literals():
    value, error = lenient_loads("[{'tool_name': 'is_prime', 'parameters': None, 'x': True}]")
    assert error is None
    assert value == [{"tool_name": "is_prime", "parameters": None, "x": True}]
    (call,) = parse_actions(f"Action: {value!r}", TOOLS).calls
    assert call.arguments == {}


def test_multiple_action_blocks_are_collected_in_order():
    text = """First the factorials.
Action:
```
[{"tool_name": "calculate_factorial", "parameters": {"n": 10}}]
```
Then the other one.
**Action:**
```
[{"tool_name": "calculate_factorial", "parameters": {"n": 8}}]
```
And finally: Action: [{"tool_name": "calculate_gcd", "parameters": [3628800, 40320]}] done."""
    result = parse_actions(text, TOOLS)
    assert named(result) == [("calculate_factorial", {"n": 10}),
                             ("calculate_factorial", {"n": 8}),
                             ("calculate_gcd", {"a": 3628800, "b": 40320})]
    assert result.problems == ()


def test_unfenced_list_followed_by_prose_with_brackets_in_strings():
    text = ('Action: [{"tool_name": "calculate_factorial", "parameters": {"n": 10}, '
            '"note": "a ] and a } inside a string"}] I will wait for the result [soon].')
    (call,) = parse_actions(text, TOOLS).calls
    assert call.arguments == {"n": 10}


def test_a_single_object_instead_of_a_list():
    text = 'Action:\n{"tool_name": "is_prime", "parameters": {"n": 7}}'
    assert named(parse_actions(text, TOOLS)) == [("is_prime", {"n": 7})]


def test_openai_shaped_entries_written_as_text():
    text = 'Action: [{"function": {"name": "is_prime", "arguments": {"n": 7}}}]'
    assert named(parse_actions(text, TOOLS)) == [("is_prime", {"n": 7})]


def test_action_in_prose_is_not_a_block():
    text = 'I was asked to write "Action:", followed by a list. No Action: needed here.'
    result = parse_actions(text, TOOLS)
    assert result.calls == () and result.problems == ()


def test_the_prompt_echoed_back_yields_the_template_entry():
    result = parse_actions(S4_PROMPT, TOOLS)
    (call,) = result.calls
    assert call.name.startswith("Tool name (choose from")
    assert call.arguments == "Input parameters for the tool"


def test_broken_json_is_reported_with_the_parser_error():
    text = """Action:
'''
[{"tool_name": "calculate_factorial", "parameters": {"n": 10}
'''"""
    result = parse_actions(text, TOOLS)
    assert result.calls == ()
    (problem,) = result.problems
    assert problem.startswith("Action block 1 is not valid JSON (")
    assert '"calculate_factorial"' in problem


def test_entries_without_a_tool_name_are_problems_and_others_still_count():
    text = ('Action: [{"parameters": {"n": 10}}, 42, '
            '{"tool_name": "is_prime", "parameters": {"n": 7}}]')
    result = parse_actions(text, TOOLS)
    assert named(result) == [("is_prime", {"n": 7})]
    assert result.problems == (
        'Action block 1, entry 1: no tool_name in {"parameters": {"n": 10}}',
        "Action block 1, entry 2: expected an object with tool_name and parameters, got 42")


def test_extract_auto_prefers_native_calls():
    native = ToolCall("is_prime", {"n": 7}, '{"n": 7}', "call_1")
    response = ModelResponse(text=LLAMA_S4, tool_calls=(native,))
    auto = extract_calls(response, "auto", TOOLS)
    assert auto.source == "native" and auto.calls == (native,)
    action = extract_calls(response, "action", TOOLS)
    assert action.source == "action" and len(action.calls) == 2
    assert extract_calls(ModelResponse(text=LLAMA_S4), "auto", TOOLS).source == "action"


def test_native_arguments_left_as_a_json_string_are_decoded():
    response = ModelResponse(text="", tool_calls=(
        ToolCall("is_prime", '{"n": 7}', id="c1"),
        ToolCall("is_prime", '{"n": 7', id="c2")))
    good, bad = extract_calls(response, "native", TOOLS).calls
    assert good.arguments == {"n": 7} and good.parse_error is None
    assert bad.arguments == '{"n": 7' and bad.parse_error


# ------------------------------------------------------------------ hostile answers


def test_megabytes_of_unterminated_actions_parse_quickly():
    text = ("Action: [{" + "[" * 5000 + "'x" * 1000) * 400  # ~2.8 MB, every block unterminated
    start = time.perf_counter()
    result = parse_actions(text, TOOLS)
    assert time.perf_counter() - start < 5
    assert result.calls == ()
    assert 0 < len(result.problems) <= 32
    assert all(len(p) < 300 for p in result.problems)


def test_deep_nesting_is_a_problem_not_a_crash():
    text = "Action: " + "[" * 100_000 + "]" * 100_000
    result = parse_actions(text, TOOLS)
    assert result.calls == ()
    assert len(result.problems) == 1


def test_binary_garbage():
    garbage = bytes(range(256)).decode("latin-1") * 200
    result = parse_actions("Action: ```\n" + garbage + "\n```", TOOLS)
    assert result.calls == ()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("Action:[]{}'\"\\`,= \n01tool_nameparsn")) |
               st.characters(), max_size=300))
def test_parse_never_raises(text):
    result = parse_actions(text, TOOLS)
    for call in result.calls:
        assert isinstance(call.name, str) and call.name


@pytest.mark.parametrize("fence", ["", "```"])
def test_an_over_long_block_is_reported_not_parsed(fence):
    entries = json.dumps([{"tool_name": "is_prime", "parameters": {"n": k}} for k in range(9000)])
    result = parse_actions(f"Action: {fence}\n{entries}\n{fence}\nDone.", TOOLS)
    assert result.calls == ()
    (problem,) = result.problems
    assert problem.startswith("Action block 1 is longer than 200000 characters; not read: [{")
