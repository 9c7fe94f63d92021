"""`calls`: the tool calls a model made, checked the way BFCL's AST checker checks them.

Every call must be well-formed: a declared tool, arguments that are a JSON object fitting the
tool's JSON Schema (an int passes for a number; "10" does not pass for an integer), and no
argument the tool does not declare. Expected calls then match actual ones when the name is the
same and every listed argument has one of its accepted values; strings compare ignoring case,
whitespace and punctuation. Arguments an expectation does not list are not compared.

Order:
- `any`: each expected call matches a distinct actual call, in any order (a maximum bipartite
  matching, so parallel calls and duplicates are paired optimally, not greedily);
- `exact`: the expected calls in the order given; with `allow_extra`, other calls may come
  between them (the expected calls are an ordered subsequence);
- `subset`: `any` with extra calls always allowed, whatever `allow_extra` says.
Otherwise `allow_extra` false fails any call beyond the expected ones. Malformed calls fail in
every mode: `allow_extra` admits extra well-formed calls only. The exception is a trace
(`source: trace`), where a malformed call was answered with an error the model could recover
from: there `allow_extra` admits it too.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import exceptions as jsonschema_errors
from jsonschema import validators

from ..extract.toolcalls import extract_calls, parse_actions, shorten, show, show_name
from ..outcome import CheckResult, Status, errored
from ..plan import CaseSpec, CheckSpec, Plan, ToolSpec
from ..response import ModelResponse, ToolCall
from .base import CheckContext, register

KIND = "calls"
MAX_CALLS = 1000
MAX_REASONS = 5
_ORDERS = ("any", "exact", "subset")
_SOURCES = ("auto", "action", "native", "trace")
_NOT_JSON = re.compile(r"^\s*(the )?arguments (are|were) not valid JSON\s*:?\s*", re.IGNORECASE)


class ToolSchemaError(Exception):
    """A tool's declared JSON Schema is itself invalid: the spec's fault, not the model's."""


@register(KIND)
async def check_calls(spec: CheckSpec, case: CaseSpec, response: ModelResponse,
                      ctx: CheckContext) -> CheckResult:
    return evaluate_calls(spec.params, response, declared_tools(case, ctx.plan),
                          tool_steps=case.tool_steps)


def declared_tools(case: CaseSpec, plan: Plan) -> dict[str, ToolSpec]:
    """The tools offered to the model in this case (all of the plan's when it names none)."""
    names = case.tools or tuple(plan.tools)
    # A name without a definition still counts as declared; it just has no schema to check.
    return {n: plan.tools.get(n) or ToolSpec(n, "", {}) for n in names}


def unknown_tool_message(name: str, tools: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(tools), n=1, cutoff=0.6)
    if close:
        return f"unknown tool {show_name(name)} — did you mean {close[0]}?"
    declared = ", ".join(sorted(tools)) or "none"
    return f"unknown tool {show_name(name)} (declared: {declared})"


class CallValidator:
    """Whether single calls are well-formed against the declared tools, with reasons."""

    def __init__(self, tools: Mapping[str, ToolSpec]):
        self.tools = tools
        self._validators: dict[str, Any] = {}

    def problems(self, call: ToolCall) -> list[str]:
        if call.name not in self.tools:
            return [unknown_tool_message(call.name, self.tools)]
        if call.parse_error:
            if isinstance(call.arguments, str):
                raw = call.raw_arguments or call.arguments
                # Providers word the error their own way ("the arguments are not valid
                # JSON: Expecting ..."); keep only the parser's detail.
                detail = _NOT_JSON.sub("", call.parse_error) or call.parse_error
                return [f"{call.name} arguments are not valid JSON ({shorten(detail)})"
                        f": {shorten(raw)}"]
            # A bare value the Action protocol could not bind; the message names the tool.
            return [shorten(call.parse_error, 200)]
        args = call.arguments
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return [f"{call.name} arguments must be a JSON object, got {_json_type(args)} "
                    f"{show(args)}"]
        return self._schema_problems(self.tools[call.name], args)

    def _schema_problems(self, tool: ToolSpec, args: dict[str, Any]) -> list[str]:
        schema = tool.parameters if isinstance(tool.parameters, Mapping) else {}
        out: list[str] = []
        props = schema.get("properties")
        extra_allowed = schema.get("additionalProperties", False) is not False
        if isinstance(props, Mapping) and not extra_allowed:
            # JSON Schema allows unknown keys unless told otherwise; BFCL does not.
            out += [f"{tool.name} got unknown argument {show_name(k, 40)}"
                    for k in args if k not in props]
        required = schema.get("required") or ()
        out += [f"{tool.name} is missing required argument {r}"
                for r in required if isinstance(r, str) and r not in args]
        for err in self._validator(tool).iter_errors(args):
            top = not err.absolute_path
            if top and err.validator in ("required", "additionalProperties"):
                continue  # reported above, in plainer words
            out.append(_describe_schema_error(tool.name, err))
            if len(out) >= MAX_REASONS:
                break
        return out

    def _validator(self, tool: ToolSpec) -> Any:
        if tool.name not in self._validators:
            schema = dict(tool.parameters) if isinstance(tool.parameters, Mapping) else {}
            cls = validators.validator_for(schema, default=validators.Draft202012Validator)
            try:
                cls.check_schema(schema)
            except jsonschema_errors.SchemaError as exc:
                raise ToolSchemaError(f"the declared parameters of tool {tool.name} are not a "
                                      f"valid JSON Schema: {shorten(exc.message, 160)}") from None
            self._validators[tool.name] = cls(schema)
        return self._validators[tool.name]


def _describe_schema_error(tool: str, err: jsonschema_errors.ValidationError) -> str:
    arg = _path(err.absolute_path)
    got = err.instance
    if err.validator == "type":
        want = err.validator_value
        want_s = " or ".join(want) if isinstance(want, list) else str(want)
        msg = (f"{tool} got {arg}={show(got, 60)}, a {_json_type(got)}; "
               f"{arg} is declared {want_s}")
        wants_number = {"integer", "number"} & set(want if isinstance(want, list) else [want])
        if isinstance(got, str) and wants_number and _is_numeric(got):
            msg += " (a number in quotes is a string, not a number)"
        return msg
    return f"{tool} got {arg}={show(got, 60)}: {shorten(err.message, 120)}"


def _path(path: Sequence[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "arguments"


def _is_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# ---------------------------------------------------------------------------------------------
# Values


def normalise_string(text: str) -> str:
    """BFCL's string comparison: case, whitespace and punctuation do not count."""
    return "".join(ch for ch in text.casefold()
                   if not (ch.isspace() or ch == "^" or unicodedata.category(ch)[0] == "P"))


def value_matches(actual: Any, accepted: Any) -> bool:
    if accepted is None or actual is None:
        return accepted is None and actual is None
    if isinstance(accepted, bool) or isinstance(actual, bool):
        return isinstance(accepted, bool) and isinstance(actual, bool) and accepted == actual
    if isinstance(accepted, int | float) and isinstance(actual, int | float):
        if isinstance(accepted, int) and isinstance(actual, int):
            return accepted == actual
        try:
            return math.isclose(float(actual), float(accepted), rel_tol=1e-9, abs_tol=0.0)
        except OverflowError:
            return False
    if isinstance(accepted, str) and isinstance(actual, str):
        return normalise_string(actual) == normalise_string(accepted)
    if isinstance(accepted, list) and isinstance(actual, list):
        return len(actual) == len(accepted) and all(
            value_matches(a, b) for a, b in zip(actual, accepted, strict=True))
    if isinstance(accepted, dict) and isinstance(actual, dict):
        return actual.keys() == accepted.keys() and all(
            value_matches(actual[k], v) for k, v in accepted.items())
    return False


@dataclass(frozen=True, slots=True)
class Expected:
    name: str
    args: dict[str, list[Any]]

    @classmethod
    def from_params(cls, d: Mapping[str, Any]) -> Expected:
        args = {k: (list(v) if isinstance(v, list | tuple) else [v])
                for k, v in dict(d.get("args") or {}).items()}
        return cls(str(d["name"]), args)

    def render(self) -> str:
        parts = [f"{k}=" + " or ".join(show(v, 40) for v in vs) for k, vs in self.args.items()]
        return f"{self.name}({', '.join(parts)})"

    def mismatches(self, call: ToolCall, tool: ToolSpec | None) -> list[str]:
        """`b=8 (expected 40320)` for each listed argument without an accepted value."""
        args = call.arguments if isinstance(call.arguments, dict) else {}
        out = []
        for name, accepted in self.args.items():
            want = " or ".join(show(v, 40) for v in accepted)
            if name in args:
                if not any(value_matches(args[name], v) for v in accepted):
                    out.append(f"{name}={show(args[name], 40)} (expected {want})")
            elif None not in accepted and not _default_accepted(tool, name, accepted):
                out.append(f"no {name} (expected {want})")
        return out


def _default_accepted(tool: ToolSpec | None, name: str, accepted: list[Any]) -> bool:
    """An omitted optional argument passes when its declared default is an accepted value."""
    props = tool.parameters.get("properties") if tool and isinstance(tool.parameters,
                                                                     Mapping) else None
    prop = props.get(name) if isinstance(props, Mapping) else None
    if not isinstance(prop, Mapping) or "default" not in prop:
        return False
    return any(value_matches(prop["default"], v) for v in accepted)


def render_call(call: ToolCall) -> str:
    if isinstance(call.arguments, dict):
        parts = [f"{show_name(str(k), 40)}={show(v, 40)}" for k, v in call.arguments.items()]
        return f"{show_name(call.name)}({', '.join(parts)})"
    raw = call.raw_arguments or call.arguments
    return f"{show_name(call.name)}({shorten(raw, 60) if isinstance(raw, str) else show(raw, 60)})"


# ---------------------------------------------------------------------------------------------
# The check


def evaluate_calls(params: Mapping[str, Any], response: ModelResponse,
                   tools: Mapping[str, ToolSpec], *, tool_steps: int = 0) -> CheckResult:
    """The `calls` check as a pure function of its parameters, the answer and the tools."""
    order = params.get("order", "any")
    source = params.get("source", "auto")
    allow_extra = bool(params.get("allow_extra", False)) or order == "subset"
    if order not in _ORDERS:
        return errored(KIND, f"unknown call order {order!r} (expected one of {_ORDERS})")
    if source not in _SOURCES:
        return errored(KIND, f"unknown call source {source!r} (expected one of {_SOURCES})")
    try:
        expected = [Expected.from_params(e) for e in params.get("calls") or ()]
    except (KeyError, TypeError, AttributeError) as exc:
        return errored(KIND, f"malformed expected calls in the plan: {exc}")
    undeclared = [e.name for e in expected if e.name not in tools]
    if undeclared:
        return errored(KIND, f"the spec expects calls to {', '.join(undeclared)}, which this "
                             f"case does not declare as tools")
    if source == "trace" and tool_steps <= 0:
        return errored(KIND, "source trace checks the tools executed in a multi-step run, but "
                             "this case executes no tools (tool_steps is 0)")

    extracted = extract_calls(response, source, tools)
    calls = list(extracted.calls[:MAX_CALLS])
    validator = CallValidator(tools)
    try:
        problems = [validator.problems(c) for c in calls]
    except ToolSchemaError as exc:
        return errored(KIND, str(exc))

    evidence: dict[str, Any] = {
        "source": extracted.source, "order": order, "allow_extra": allow_extra,
        "expected": [{"name": e.name, "args": _bounded(e.args)} for e in expected],
        "calls": [_call_evidence(i, c, p) for i, (c, p) in enumerate(zip(calls, problems,
                                                                          strict=True))][:50],
        "problems": list(extracted.problems),
    }
    if len(extracted.calls) > MAX_CALLS:
        evidence["truncated_calls"] = len(extracted.calls)
    if extracted.source == "trace":
        evidence["trace"] = [
            {"call": render_call(s.call), "ok": s.ok, "output": shorten(s.output, 300)}
            for s in response.steps[:50]]

    if not calls and expected:
        return CheckResult(KIND, Status.FAIL, _no_calls_reason(expected, extracted.source,
                                                              extracted.problems, response),
                           evidence)

    matcher = _match_in_order if order == "exact" else _match_any
    match = matcher(expected, calls, problems, tools, allow_extra)
    evidence["matched"] = [{"expected": i + 1, "call": j + 1} for i, j in match.pairs]
    evidence["mismatches"] = [{"expected": i + 1, "call": None if j is None else j + 1,
                               "reason": r} for i, j, r in match.misses]
    evidence["extra"] = [j + 1 for j in match.extra]
    if match.hint:
        evidence["hint"] = match.hint

    # In a trace, a malformed call was answered with an error the model could recover from,
    # so there `allow_extra` admits it like any other extra call.
    tolerate_malformed = extracted.source == "trace" and allow_extra
    reasons = list(extracted.problems)
    if not tolerate_malformed:
        for p in problems:
            reasons += p
    for i, j, reason in match.misses:
        if j is None or not problems[j]:
            reasons.append(reason)
        elif tolerate_malformed:
            reasons.append(f"missing call {expected[i].render()} (call {j + 1}: "
                           f"{problems[j][0]})")
        # else: the malformed call's own problems, reported above, explain the miss.
    if match.hint:
        reasons.append(match.hint)
    if not allow_extra:
        reasons += [_extra_reason(j, calls, match.pairs) for j in match.extra
                    if not problems[j]]
    if reasons:
        return CheckResult(KIND, Status.FAIL, _join(reasons), evidence)
    return CheckResult(KIND, Status.PASS, _pass_reason(expected, calls, match, order), evidence)


@dataclass
class _Match:
    pairs: list[tuple[int, int]]
    """(expected index, call index) for each expected call that matched."""
    misses: list[tuple[int, int | None, str]]
    """(expected index, closest call index or None, reason) for each unmatched expected call."""
    extra: list[int]
    """Call indexes matching no expectation."""
    hint: str = ""


def _compatibility(expected: list[Expected], calls: list[ToolCall], problems: list[list[str]],
                   tools: Mapping[str, ToolSpec]) -> list[list[list[str] | None]]:
    """For each (expected, call): None when the names differ, [] when the call matches, else
    what differs. A malformed call never matches; its own problems explain why."""
    table: list[list[list[str] | None]] = []
    for e in expected:
        row: list[list[str] | None] = []
        for call, probs in zip(calls, problems, strict=True):
            if call.name != e.name:
                row.append(None)
            elif probs:
                row.append(["malformed"])
            else:
                row.append(e.mismatches(call, tools.get(call.name)))
        table.append(row)
    return table


def _match_any(expected: list[Expected], calls: list[ToolCall], problems: list[list[str]],
               tools: Mapping[str, ToolSpec], allow_extra: bool) -> _Match:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    table = _compatibility(expected, calls, problems, tools)
    # One assignment does two jobs. Every non-matching pair costs at least BIG, so the optimum
    # has the most matching pairs; among those, leftover expected calls pair with the same-name
    # call that differs least, which is the near miss worth explaining.
    big, small = 10**9, 1000
    cost = np.full((len(expected), len(calls)), big + 2 * small, dtype=np.int64)
    for i, row in enumerate(table):
        for j, diff in enumerate(row):
            if diff is not None:
                cost[i, j] = 0 if not diff else big + min(len(diff), small - 1)
    rows, cols = linear_sum_assignment(cost) if calls and expected else ([], [])
    pairs, misses = [], []
    paired: dict[int, int] = {}
    for i, j in zip(rows, cols, strict=True):
        paired[int(i)] = int(j)
    used = set()
    for i, e in enumerate(expected):
        j = paired.get(i)
        diff = None if j is None else table[i][j]
        if j is not None and diff == []:
            pairs.append((i, j))
            used.add(j)
        elif j is not None and diff is not None:
            # The near miss explains this expectation; calling it "extra" as well says nothing.
            misses.append((i, j, _near_miss_reason(e, calls[j], diff)))
            used.add(j)
        else:
            misses.append((i, None, f"missing call {e.render()}"))
    extra = [j for j in range(len(calls)) if j not in used]
    return _Match(pairs, misses, extra)


def _match_in_order(expected: list[Expected], calls: list[ToolCall], problems: list[list[str]],
                    tools: Mapping[str, ToolSpec], allow_extra: bool) -> _Match:
    table = _compatibility(expected, calls, problems, tools)
    # When the expected calls all appear in order, any failure is about the calls between
    # them, which the subsequence matching reports as extras; else positions explain best.
    in_order = _match_subsequence(expected, calls, table)
    match = in_order if allow_extra or not in_order.misses else _match_positions(
        expected, calls, table)
    if match.misses and not _match_any(expected, calls, problems, tools, True).misses:
        match.hint = "all the expected calls were made, but in another order"
    return match


def _match_positions(expected: list[Expected], calls: list[ToolCall],
                     table: list[list[list[str] | None]]) -> _Match:
    """Call i must be expected call i."""
    pairs: list[tuple[int, int]] = []
    misses: list[tuple[int, int | None, str]] = []
    for i, e in enumerate(expected):
        diff = table[i][i] if i < len(calls) else None
        if i >= len(calls):
            misses.append((i, None, f"missing call {i + 1}: {e.render()}"))
        elif diff == []:
            pairs.append((i, i))
        elif diff is not None:
            misses.append((i, i, f"call {i + 1}: {_near_miss_reason(e, calls[i], diff)}"))
        else:
            misses.append((i, i, f"call {i + 1} is {render_call(calls[i])}, "
                                 f"expected {e.render()}"))
    return _Match(pairs, misses, list(range(len(expected), len(calls))))


def _match_subsequence(expected: list[Expected], calls: list[ToolCall],
                       table: list[list[list[str] | None]]) -> _Match:
    """The expected calls in order, other calls allowed between them."""
    pairs: list[tuple[int, int]] = []
    misses: list[tuple[int, int | None, str]] = []
    pos = 0
    for i, e in enumerate(expected):
        # Taking the earliest matching call is optimal for an ordered subsequence: a later
        # one never leaves more room for the expected calls after it.
        j = next((j for j in range(pos, len(calls)) if table[i][j] == []), None)
        if j is not None:
            pairs.append((i, j))
            pos = j + 1
            continue
        reason = f"missing call {e.render()}" + (f" after call {pos}" if pos else "")
        near = next((k for k in range(pos, len(calls)) if table[i][k]), None)
        if near is not None:
            detail = _near_miss_reason(e, calls[near], table[i][near] or [])
            reason += f" (call {near + 1}: {detail})"
        misses.append((i, near, reason))
    used = {j for _, j in pairs} | {j for _, j, _ in misses if j is not None}
    return _Match(pairs, misses, [j for j in range(len(calls)) if j not in used])


def _near_miss_reason(e: Expected, call: ToolCall, diff: list[str]) -> str:
    if diff == ["malformed"]:
        return f"{render_call(call)} is malformed"
    return f"{e.name} got {', '.join(diff)}"


def _extra_reason(j: int, calls: list[ToolCall], pairs: list[tuple[int, int]]) -> str:
    call = calls[j]
    same = next((k for _, k in sorted(pairs, key=lambda p: p[1])
                 if calls[k].name == call.name and calls[k].arguments == call.arguments), None)
    repeat = f" (a repeat of call {same + 1})" if same is not None else ""
    return f"unexpected extra call {render_call(call)}{repeat}"


def _no_calls_reason(expected: list[Expected], source: str, problems: Sequence[str],
                     response: ModelResponse) -> str:
    want = ", ".join(e.render() for e in expected)
    if problems:
        return _join([f"no well-formed tool calls (expected {want})", *problems])
    if source == "trace":
        why = "no tool was executed during the run"
        if response.tool_calls:
            why += f" (the model asked for {render_call(response.tool_calls[0])})"
    elif source == "native":
        why = "no native tool calls"
        if parse_actions(response.text).calls:
            why += "; the answer wrote an Action: list instead (source action reads it)"
    else:
        why = "no tool calls: the answer has no Action: list and no native tool calls"
    text = response.text.strip()
    begins = f"; the answer begins {shorten(text, 100)}" if text else "; the answer is empty"
    return f"{why} (expected {want}){'' if source == 'trace' else begins}"


def _pass_reason(expected: list[Expected], calls: list[ToolCall], match: _Match,
                 order: str) -> str:
    if not expected:
        return "no tool call, as expected" if not calls else (
            f"{len(calls)} call(s), extra calls allowed")
    shown = [render_call(calls[j]) for _, j in sorted(match.pairs, key=lambda p: p[1])]
    made = ", ".join(shown[:MAX_REASONS]) + (
        f" and {len(shown) - MAX_REASONS} more" if len(shown) > MAX_REASONS else "")
    how = " in order" if order == "exact" else ""
    extra = f"; {len(match.extra)} extra call(s) allowed" if match.extra else ""
    return f"made the {len(expected)} expected call(s){how}: {made}{extra}"


def _join(reasons: list[str]) -> str:
    shown = reasons[:MAX_REASONS]
    more = len(reasons) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


def _call_evidence(i: int, call: ToolCall, problems: list[str]) -> dict[str, Any]:
    return {"index": i + 1, "name": shorten(call.name, 200), "id": call.id,
            "arguments": _bounded(call.arguments),
            "raw_arguments": shorten(call.raw_arguments, 500) if call.raw_arguments else "",
            "problems": problems}


def _bounded(value: Any, limit: int = 2000) -> Any:
    """The value itself when it is small JSON, else a shortened rendering."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return shorten(repr(value), 200)
    return value if len(text) <= limit else shorten(text, limit)
