"""The multi-step tool loop, driven by scripted models (the loop's own `generate` interface)."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from evalspec.checks.tools import evaluate_calls
from evalspec.outcome import Status
from evalspec.plan import CheckSpec, ToolSpec
from evalspec.response import ModelResponse, ToolCall, Usage
from evalspec.toolloop import (
    EXHAUSTED,
    MAX_CALLS_PER_STEP,
    Executed,
    sandbox_execute,
    solve_with_tools,
)

from .seed import S5_PROMPT, make_case, make_plan, seed_tools

Turn = ModelResponse | str | Callable[[list[dict[str, Any]]], ModelResponse | str]
HAVE_SANDBOX = importlib.util.find_spec("evalspec.sandbox") is not None


class Script:
    """A model that plays its turns in order (the last one repeats), each a fixed answer or a
    function of the conversation so far; it keeps a copy of every conversation it was sent."""

    def __init__(self, *turns: Turn):
        self.turns = turns
        self.seen: list[list[dict[str, Any]]] = []

    async def __call__(self, messages: list[dict[str, Any]]) -> ModelResponse:
        self.seen.append(copy.deepcopy(messages))
        turn = self.turns[min(len(self.seen), len(self.turns)) - 1]
        if callable(turn):
            turn = turn(messages)
        if isinstance(turn, str):
            turn = ModelResponse(text=turn, finish_reason="stop")
        return ModelResponse(turn.text, turn.tool_calls, turn.finish_reason or "stop",
                             Usage(100 * len(self.seen), 10), 250.0, "scripted")


class LocalTools:
    """Runs tool implementations in this process: fast, for testing the loop's own logic."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, tool: ToolSpec, kwargs: dict[str, Any]) -> Executed:
        self.calls.append((tool.name, kwargs))
        namespace: dict[str, Any] = {}
        exec(tool.impl_source or "", namespace)
        try:
            return Executed(True, json.dumps(namespace[tool.impl_function or tool.name](**kwargs)))
        except Exception as exc:
            return Executed(False, f"{type(exc).__name__}: {exc}")


def observation(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last = messages[-1]
    assert last["role"] == "user" and last["content"].startswith("Observation: ")
    return json.loads(last["content"].removeprefix("Observation: ").split("\n")[0])


def action(*entries: tuple[str, Any]) -> str:
    return "Action:\n```\n" + json.dumps(
        [{"tool_name": n, "parameters": p} for n, p in entries]) + "\n```"


FACTORIALS = action(("calculate_factorial", "10"), ("calculate_factorial", "8"))


def gcd_of_observed(messages: list[dict[str, Any]]) -> str:
    outputs = [o["output"] for o in observation(messages)]
    return "Both factorials are known; now the GCD.\n" + action(("calculate_gcd", outputs))


def final_from_observed(messages: list[dict[str, Any]]) -> str:
    (result,) = observation(messages)
    return f"The greatest common divisor of 10! and 8! is {result['output']}."


def s5_case(mode: str = "action", steps: int = 4):
    case = make_case(S5_PROMPT, tool_mode=mode, tool_steps=steps)
    return case, make_plan(case)


GCD_CHECK = {"calls": [{"name": "calculate_gcd", "args": {"a": [3628800], "b": [40320]}}],
             "order": "any", "allow_extra": True, "source": "trace"}


# ------------------------------------------------------------------ action protocol


async def test_s5_action_run_feeds_results_back_and_passes():
    case, plan = s5_case()
    model = Script(FACTORIALS, gcd_of_observed, final_from_observed)
    tools = LocalTools()
    result = await solve_with_tools(case, plan, model, execute=tools)

    assert result.text == "The greatest common divisor of 10! and 8! is 40320."
    assert result.finish_reason == "stop"
    assert [(s.call.name, s.call.arguments, s.output, s.ok) for s in result.steps] == [
        ("calculate_factorial", {"n": 10}, "3628800", True),
        ("calculate_factorial", {"n": 8}, "40320", True),
        ("calculate_gcd", {"a": 3628800, "b": 40320}, "40320", True)]
    assert len(result.turns) == 3 and result.turns[0] == FACTORIALS
    assert [c.name for c in result.tool_calls] == ["calculate_factorial", "calculate_factorial",
                                                   "calculate_gcd"]
    assert result.usage == Usage(100 + 200 + 300, 30)
    assert result.latency_ms == 750.0
    assert not result.cached

    second = model.seen[1]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == FACTORIALS
    assert observation(second) == [{"tool_name": "calculate_factorial", "output": 3628800},
                                   {"tool_name": "calculate_factorial", "output": 40320}]
    assert "final answer" in second[2]["content"]

    check = evaluate_calls(GCD_CHECK, result, plan.tools, tool_steps=case.tool_steps)
    assert check.status is Status.PASS, check.reason


async def test_s5_the_article_failure_gcd_of_the_inputs():
    case, plan = s5_case()
    model = Script(FACTORIALS, action(("calculate_gcd", {"a": 10, "b": 8})),
                   "The GCD of 10! and 8! is 2.")
    result = await solve_with_tools(case, plan, model, execute=LocalTools())
    assert result.steps[-1].output == "2"
    check = evaluate_calls(GCD_CHECK, result, plan.tools, tool_steps=case.tool_steps)
    assert check.status is Status.FAIL
    assert check.reason == "calculate_gcd got a=10 (expected 3628800), b=8 (expected 40320)"


async def test_unknown_tool_and_bad_arguments_come_back_as_errors():
    case, plan = s5_case()
    tools = LocalTools()
    model = Script(action(("calculate_fact", 10), ("calculate_factorial", {"n": "ten"}),
                          ("is_prime", {"n": 7})),
                   "I could not compute it.")
    result = await solve_with_tools(case, plan, model, execute=tools)
    assert tools.calls == [("is_prime", {"n": 7})]  # the malformed calls never ran
    assert [s.ok for s in result.steps] == [False, False, True]
    assert observation(model.seen[1]) == [
        {"tool_name": "calculate_fact",
         "error": "unknown tool calculate_fact — did you mean calculate_factorial?"},
        {"tool_name": "calculate_factorial",
         "error": 'calculate_factorial got n="ten", a string; n is declared integer'},
        {"tool_name": "is_prime", "output": True}]


async def test_a_tool_that_raises_is_an_error_observation():
    case, plan = s5_case()
    model = Script(action(("calculate_factorial", -1)), "Negative numbers have no factorial.")
    result = await solve_with_tools(case, plan, model, execute=LocalTools())
    (step,) = result.steps
    assert not step.ok
    assert step.output == "ValueError: factorial is not defined for negative numbers (got -1)"
    assert result.text == "Negative numbers have no factorial."


async def test_malformed_action_block_is_reported_and_the_loop_goes_on():
    case, plan = s5_case()
    broken = 'Action:\n```\n[{"tool_name": "calculate_factorial", "parameters": }]\n```'
    model = Script(broken, FACTORIALS, "10! = 3628800 and 8! = 40320.")
    result = await solve_with_tools(case, plan, model, execute=LocalTools())
    (problem,) = observation(model.seen[1])
    assert problem["error"].startswith("Action block 1 is not valid JSON")
    assert result.text == "10! = 3628800 and 8! = 40320."
    assert len(result.steps) == 2 and len(result.turns) == 3


async def test_step_limit():
    case, plan = s5_case(steps=2)
    model = Script(action(("is_prime", 7)))  # never stops calling
    result = await solve_with_tools(case, plan, model, execute=LocalTools())
    assert result.finish_reason == EXHAUSTED
    assert len(model.seen) == 3
    assert len(result.steps) == 2  # the third request was not executed...
    assert len(result.tool_calls) == 3  # ...but the model did make it
    assert result.text == action(("is_prime", 7))


async def test_huge_tool_output_is_cut():
    spam = ToolSpec("spam", "", {"type": "object", "properties": {"n": {"type": "integer"}},
                                 "required": ["n"]},
                    "def spam(n: int) -> str:\n    return 'x' * n\n", "spam")
    case = make_case("go", tools=("spam",), tool_steps=1)
    model = Script(action(("spam", 1_000_000)), "done")
    result = await solve_with_tools(case, make_plan(case, {"spam": spam}), model,
                                    execute=LocalTools())
    (step,) = result.steps
    assert len(step.output) < 9000 and step.output.endswith("[cut: 1000002 characters in all]")
    assert len(model.seen[1][-1]["content"]) < 9500


async def test_no_tool_call_is_a_single_turn():
    case, plan = s5_case()
    model = Script("I cannot use tools, but 10! = 3628800.")
    result = await solve_with_tools(case, plan, model, execute=LocalTools())
    assert result.steps == () and result.tool_calls == ()
    assert result.turns == ("I cannot use tools, but 10! = 3628800.",)
    assert len(model.seen) == 1


async def test_endpoint_errors_propagate():
    async def broken(messages: list[dict[str, Any]]) -> ModelResponse:
        raise ConnectionError("endpoint gone")

    case, plan = s5_case()
    with pytest.raises(ConnectionError):
        await solve_with_tools(case, plan, broken, execute=LocalTools())


# ------------------------------------------------------------------ native function calling


def native(*calls: tuple[str, Any, str | None], text: str = "") -> ModelResponse:
    out = []
    for name, args, call_id in calls:
        if isinstance(args, str):
            out.append(ToolCall(name, args, args, call_id, "Expecting ',' delimiter"))
        else:
            out.append(ToolCall(name, args, json.dumps(args), call_id))
    return ModelResponse(text=text, tool_calls=tuple(out), finish_reason="tool_calls")


def native_gcd(messages: list[dict[str, Any]]) -> ModelResponse:
    results = [int(m["content"]) for m in messages if m["role"] == "tool"]
    return native(("calculate_gcd", {"a": results[0], "b": results[1]}, "call_c"))


async def test_s5_native_run():
    case, plan = s5_case("native")
    model = Script(native(("calculate_factorial", {"n": 10}, "call_a"),
                          ("calculate_factorial", {"n": 8}, "call_b"), text="Computing."),
                   native_gcd, "The GCD is 40320.")
    result = await solve_with_tools(case, plan, model, execute=LocalTools())
    assert result.text == "The GCD is 40320."
    assert [s.output for s in result.steps] == ["3628800", "40320", "40320"]
    assert model.seen[1][1:] == [
        {"role": "assistant", "content": "Computing.", "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "calculate_factorial", "arguments": '{"n": 10}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "calculate_factorial", "arguments": '{"n": 8}'}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "3628800"},
        {"role": "tool", "tool_call_id": "call_b", "content": "40320"}]
    check = evaluate_calls(GCD_CHECK, result, plan.tools, tool_steps=case.tool_steps)
    assert check.status is Status.PASS, check.reason


async def test_native_garbage_arguments_and_missing_ids():
    case, plan = s5_case("native")
    tools = LocalTools()
    model = Script(native(("calculate_factorial", '{"n": 10,, ', None),
                          ("calculate_factorial", {"n": 8}, None),
                          ("is_prime", {"n": 7}, "dup"), ("is_prime", {"n": 9}, "dup")),
                   "Sorry, 8! = 40320.")
    result = await solve_with_tools(case, plan, model, execute=tools)
    assert tools.calls == [("calculate_factorial", {"n": 8}), ("is_prime", {"n": 7}),
                           ("is_prime", {"n": 9})]
    bad, good, _, _ = result.steps
    assert not bad.ok and good.ok
    assert bad.output == ("calculate_factorial arguments are not valid JSON "
                          "(Expecting ',' delimiter): {\"n\": 10,,")
    sent = model.seen[1]
    assert [c["id"] for c in sent[1]["tool_calls"]] == ["call_1_1", "call_1_2", "dup",
                                                        "call_1_4"]
    assert [m["tool_call_id"] for m in sent[2:]] == ["call_1_1", "call_1_2", "dup", "call_1_4"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"n": 10,, '
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1_1",
                       "content": "Error: " + bad.output}
    assert sent[3]["content"] == "40320"


# ------------------------------------------------------------------ through the real sandbox


@pytest.mark.skipif(not HAVE_SANDBOX, reason="evalspec.sandbox has not landed yet")
async def test_s5_through_the_sandbox():
    case, plan = s5_case()
    model = Script(FACTORIALS, gcd_of_observed, final_from_observed)
    result = await solve_with_tools(case, plan, model)
    assert [s.output for s in result.steps] == ["3628800", "40320", "40320"]
    assert result.text.endswith("is 40320.")


@pytest.mark.skipif(not HAVE_SANDBOX, reason="evalspec.sandbox has not landed yet")
async def test_sandbox_errors_are_observations():
    case, plan = s5_case()
    model = Script(action(("calculate_factorial", -3)), "no")
    result = await solve_with_tools(case, plan, model)
    (step,) = result.steps
    assert not step.ok
    assert re.search(r"negative numbers \(got -3\)", step.output)


async def test_a_tool_without_implementation():
    tool = seed_tools()["is_prime"]
    bare = ToolSpec(tool.name, tool.description, tool.parameters)
    executed = await sandbox_execute(bare, {"n": 7})
    assert executed == Executed(False, "tool is_prime has no implementation")


# ------------------------------------------------------------------ over HTTP, end to end


def _over_http(server_url: str, plan) -> tuple[Any, Callable]:
    from evalspec.plan import ModelSpec
    from evalspec.providers import ChatRequest
    from evalspec.providers.openai_compat import OpenAIProvider

    provider = OpenAIProvider(ModelSpec("m", "openai", "scripted", base_url=server_url))
    schemas = [t.openai_schema() for t in plan.tools.values()]

    async def generate(messages: list[dict[str, Any]]) -> ModelResponse:
        return await provider.complete(ChatRequest(messages, tools=schemas))

    return provider, generate


async def test_s5_native_over_the_loopback_server():
    from evalspec.testing.server import Reply, ScriptedServer

    def respond(body: dict[str, Any]) -> Reply:
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        if not results:
            return Reply(tool_calls=[
                {"name": "calculate_factorial", "arguments": {"n": 10}},
                {"name": "calculate_factorial", "arguments": '{"n": 8,,'}])  # broken JSON
        if len(results) == 2:
            return Reply(tool_calls=[{"name": "calculate_factorial", "arguments": {"n": 8}}])
        if len(results) == 3:
            return Reply(tool_calls=[{"name": "calculate_gcd", "arguments": {
                "a": int(results[0]), "b": int(results[2])}}])
        return Reply(text=f"The GCD is {results[3]}.")

    case, plan = s5_case("native", steps=5)
    with ScriptedServer() as server:
        server.script("greatest common divisor", respond=respond)
        provider, generate = _over_http(server.url, plan)
        try:
            result = await solve_with_tools(case, plan, generate, execute=LocalTools())
        finally:
            await provider.aclose()
        bodies = [r.body for r in server.requests]

    assert result.text == "The GCD is 40320."
    assert [(s.call.name, s.ok) for s in result.steps] == [
        ("calculate_factorial", True), ("calculate_factorial", False),
        ("calculate_factorial", True), ("calculate_gcd", True)]
    assert result.steps[1].output.startswith("calculate_factorial arguments are not valid JSON (")
    assert len(bodies) == 4
    second = bodies[1]["messages"]
    ids = [c["id"] for c in second[1]["tool_calls"]]
    assert [m.get("tool_call_id") for m in second[2:]] == ids
    assert second[3]["content"].startswith("Error: calculate_factorial arguments are not valid")
    assert all(b["tools"][0]["function"]["name"] == "calculate_factorial" for b in bodies)
    check = evaluate_calls(GCD_CHECK, result, plan.tools, tool_steps=case.tool_steps)
    assert check.status is Status.PASS, check.reason
    strict = evaluate_calls({**GCD_CHECK, "source": "native"}, result, plan.tools)
    assert strict.status is Status.FAIL  # every call the model made counts, the broken one too
    assert strict.reason.startswith("calculate_factorial arguments are not valid JSON")


async def test_a_flood_of_calls_runs_only_the_first_few():
    case, plan = s5_case(steps=1)
    tools = LocalTools()
    model = Script(action(*[("is_prime", k) for k in range(40)]), "done")
    result = await solve_with_tools(case, plan, model, execute=tools)
    assert len(tools.calls) == MAX_CALLS_PER_STEP
    assert len(result.steps) == 40
    assert [s.ok for s in result.steps].count(True) == MAX_CALLS_PER_STEP
    assert result.steps[-1].output.startswith("not run: at most 16 tool calls")


@pytest.mark.skipif(not HAVE_SANDBOX, reason="evalspec.sandbox has not landed yet")
async def test_s5_through_the_runner(test_server, tmp_path):
    """Both models of the article, S5 in the Action protocol, run end to end: HTTP, the loop,
    the sandbox, the trace check, the store."""
    from evalspec.plan import ModelSpec
    from evalspec.runner import Runner
    from evalspec.store import Store

    def respond(body: dict[str, Any]) -> str:
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if turns == 0:
            return FACTORIALS
        if turns == 1:
            if body["model"] == "llama-id":  # the article's failure: GCD of the inputs
                return action(("calculate_gcd", {"a": 10, "b": 8}))
            return gcd_of_observed(body["messages"])
        return final_from_observed(body["messages"])

    # In the Action protocol the last user turn is the observation: match the whole chat.
    test_server.script("greatest common divisor", respond=respond, field="all")
    spec = CheckSpec("calls", GCD_CHECK, "calls calculate_gcd(a=3628800, b=40320)")
    case = make_case(S5_PROMPT, checks=(spec,), tool_steps=4)
    models = {n: ModelSpec(n, "openai", f"{n}-id", base_url=test_server.url, timeout_s=5.0)
              for n in ("llama", "gpt4o")}
    plan = make_plan(case)
    plan = type(plan)(plan.source, models, None, {}, plan.tools,
                      (type(case).from_json({**case.to_json(), "models": list(models)}),))
    store = Store(tmp_path / ".evalspec")
    report = await Runner(plan, store).run()
    results = {r["model"]: r for r in store.export_run(report.run_id)["results"]}

    llama, gpt = results["llama"], results["gpt4o"]
    assert gpt["status"] == "pass", gpt["checks"]
    assert gpt["response"]["text"] == "The greatest common divisor of 10! and 8! is 40320."
    assert [s["output"] for s in gpt["response"]["steps"]] == ["3628800", "40320", "40320"]
    assert llama["status"] == "fail"
    assert llama["checks"][0]["reason"] == ("calculate_gcd got a=10 (expected 3628800), "
                                            "b=8 (expected 40320)")
    assert test_server.count() == 6
    auto = evaluate_calls({**GCD_CHECK, "source": "auto"},
                          ModelResponse.from_json(gpt["response"]), plan.tools)
    assert auto.status is Status.PASS and auto.evidence["source"] == "action"
