"""The multi-step tool loop: ask the model, run the tools it calls, feed the results back.

The runner calls `solve_with_tools` for a case with `tool_steps > 0`. Two protocols:

- `native`: OpenAI function calling. The assistant message keeps its `tool_calls`, and each
  result goes back as a `tool` message with the call's `tool_call_id`.
- `action`: the seed's text protocol. The `Action:` list is parsed from the answer, and the
  results go back as a user turn `Observation: [...]`.

The model's output is hostile input: an unknown tool, arguments that are not JSON or do not
fit the schema, a tool that raises or runs too long, all come back to the model as an error
observation and are recorded as a failed `ToolStep`; none of them stops the loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .checks.tools import CallValidator, ToolSchemaError, declared_tools
from .extract.toolcalls import normalise_native, parse_actions
from .plan import CaseSpec, Plan, ToolSpec
from .response import ModelResponse, ToolCall, ToolStep, Usage

EXHAUSTED = "tool_steps_exhausted"
MAX_CALLS_PER_STEP = 16
"""Calls beyond this in one answer are answered with an error, not run: a model that emits
thousands of calls must not turn into thousands of sandbox processes."""
MAX_OUTPUT_CHARS = 8000
"""A tool result longer than this is cut before it goes back to the model and into the store."""

CONTINUE = ("Continue: if you need more tools, write another \"Action:\" list; otherwise give "
            "your final answer without an Action.")

Generate = Callable[[list[dict[str, Any]]], Awaitable[ModelResponse]]


@dataclass(frozen=True, slots=True)
class Executed:
    ok: bool
    output: str
    """The tool's return value as JSON, or the error message."""


Execute = Callable[[ToolSpec, dict[str, Any]], Awaitable[Executed]]


async def sandbox_execute(tool: ToolSpec, kwargs: dict[str, Any]) -> Executed:
    """Run a declared tool's implementation in the sandbox."""
    if not tool.impl_source:
        where = f" (from {tool.impl_file})" if tool.impl_file else ""
        return Executed(False, f"tool {tool.name} has no implementation{where}")
    from .sandbox import call_function  # the sandbox is heavy; only tool runs need it

    result = await call_function(tool.impl_source, tool.impl_function or tool.name, kwargs)
    if result.ok:
        return Executed(True, result.value_json if result.value_json is not None else "null")
    return Executed(False, result.error or "the tool failed without a message")


async def solve_with_tools(case: CaseSpec, plan: Plan, generate: Generate, *,
                           execute: Execute = sandbox_execute) -> ModelResponse:
    """Run the case's conversation until the model answers without calling a tool, or until
    `case.tool_steps` rounds of tool calls have run (finish_reason `tool_steps_exhausted`).

    Errors from `generate` (the endpoint) and from the sandbox machinery itself propagate: they
    are not the model's doing, and the runner records them as an `error` result."""
    tools = declared_tools(case, plan)
    native = case.tool_mode == "native"
    messages: list[dict[str, Any]] = [m.to_json() for m in case.messages]
    validator = CallValidator(tools)
    responses: list[ModelResponse] = []
    all_calls: list[ToolCall] = []
    steps: list[ToolStep] = []
    rounds = 0
    while True:
        response = await generate(list(messages))
        responses.append(response)
        if native:
            calls = _with_ids([normalise_native(c) for c in response.tool_calls], rounds + 1)
            problems: tuple[str, ...] = ()
        else:
            parsed = parse_actions(response.text, tools)
            calls, problems = list(parsed.calls), parsed.problems
        all_calls += calls
        if not calls and not problems:
            return _combine(responses, all_calls, steps, response.finish_reason)
        if rounds >= case.tool_steps:
            return _combine(responses, all_calls, steps, EXHAUSTED)
        rounds += 1
        results = [await _run_one(call, tools, validator, execute)
                   if k < MAX_CALLS_PER_STEP else _TOO_MANY
                   for k, call in enumerate(calls)]
        steps += [ToolStep(call, r.output, r.ok) for call, r in zip(calls, results, strict=True)]
        if native:
            messages += _native_messages(response, calls, results)
        else:
            messages += _action_messages(response, calls, results, problems)


_TOO_MANY = Executed(False, f"not run: at most {MAX_CALLS_PER_STEP} tool calls are run per step")


async def _run_one(call: ToolCall, tools: Mapping[str, ToolSpec], validator: CallValidator,
                   execute: Execute) -> Executed:
    try:
        problems = validator.problems(call)
    except ToolSchemaError:
        problems = []  # the spec's schema is broken; let the tool itself judge the arguments
    if problems:
        return Executed(False, "; ".join(problems))
    args = call.arguments if isinstance(call.arguments, dict) else {}
    result = await execute(tools[call.name], args)
    return Executed(result.ok, _cut(result.output))


def _with_ids(calls: list[ToolCall], round_no: int) -> list[ToolCall]:
    """Each call with an id of its own: every tool message must name the call it answers, and
    some endpoints omit ids or repeat them."""
    seen: set[str] = set()
    out = []
    for k, call in enumerate(calls, 1):
        if not call.id or call.id in seen:
            call = ToolCall(call.name, call.arguments, call.raw_arguments,
                            f"call_{round_no}_{k}", call.parse_error)
        seen.add(call.id or "")
        out.append(call)
    return out


def _native_messages(response: ModelResponse, calls: list[ToolCall],
                     results: list[Executed]) -> list[dict[str, Any]]:
    assistant = {
        "role": "assistant",
        "content": response.text or None,
        "tool_calls": [{"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": _raw_arguments(c)}}
                       for c in calls],
    }
    tool_msgs = [{"role": "tool", "tool_call_id": c.id,
                  "content": r.output if r.ok else f"Error: {r.output}"}
                 for c, r in zip(calls, results, strict=True)]
    return [assistant, *tool_msgs]


def _raw_arguments(call: ToolCall) -> str:
    # Send back exactly what the model sent, malformed or not, so the history is faithful.
    if call.raw_arguments:
        return call.raw_arguments
    if isinstance(call.arguments, str):
        return call.arguments
    try:
        return json.dumps(call.arguments, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(call.arguments)


def _action_messages(response: ModelResponse, calls: list[ToolCall], results: list[Executed],
                     problems: tuple[str, ...]) -> list[dict[str, Any]]:
    observations: list[dict[str, Any]] = []
    for call, result in zip(calls, results, strict=True):
        entry: dict[str, Any] = {"tool_name": call.name}
        if result.ok:
            entry["output"] = _as_value(result.output)
        else:
            entry["error"] = result.output
        observations.append(entry)
    observations += [{"error": p} for p in problems]
    observation = json.dumps(observations, ensure_ascii=False)
    return [{"role": "assistant", "content": response.text},
            {"role": "user", "content": f"Observation: {observation}\n{CONTINUE}"}]


def _as_value(output: str) -> Any:
    """A JSON result embedded as a value (so 3628800 reads as a number), else the text."""
    try:
        return json.loads(output)
    except (ValueError, RecursionError):
        return output


def _cut(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + f"… [cut: {len(text)} characters in all]"


def _combine(responses: list[ModelResponse], calls: list[ToolCall], steps: list[ToolStep],
             finish_reason: str | None) -> ModelResponse:
    last = responses[-1]
    return ModelResponse(
        text=last.text,
        tool_calls=tuple(calls),
        finish_reason=finish_reason,
        usage=Usage(sum(r.usage.prompt_tokens for r in responses),
                    sum(r.usage.completion_tokens for r in responses)),
        latency_ms=sum(r.latency_ms for r in responses),
        model=last.model,
        cached=all(r.cached for r in responses),
        steps=tuple(steps),
        turns=tuple(r.text for r in responses),
    )


__all__ = ["EXHAUSTED", "Executed", "sandbox_execute", "solve_with_tools"]
