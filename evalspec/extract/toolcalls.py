"""Tool calls read back from a model's answer: native function calls, or the text protocol.

The text protocol is the seed article's: the word `Action:` followed by a JSON list of
`{"tool_name": ..., "parameters": ...}`, usually fenced in ''' or ```. Models follow it
loosely: single quotes and trailing commas, bare values in place of named parameters
(`"parameters": 10`, `"10"`, `[10]`), several Action blocks in one answer. Everything here is
total: any text in, calls plus a list of problems out, never an exception.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyjson5

from ..plan import ToolSpec
from ..response import ModelResponse, ToolCall

# Hostile answers can hold thousands of markers or megabytes of brackets; past these bounds
# the rest is ignored rather than parsed slowly.
MAX_ACTION_BLOCKS = 32
MAX_BLOCK_CHARS = 200_000
MAX_LENIENT_CHARS = 200_000
MAX_DEPTH = 200

_ACTION = re.compile(r"\bAction\**[ \t]*:\**", re.IGNORECASE)
_FENCE = re.compile(r"('{3,}|`{3,}|~{3,})[ \t]*[\w+.-]*[ \t]*\n?")
_NAME_KEYS = ("tool_name", "tool", "name", "function", "action")
_PARAM_KEYS = ("parameters", "arguments", "args", "params", "input", "tool_input",
               "action_input")
_KEY_VALUE = re.compile(r"\s*([A-Za-z_]\w*)\s*[=:]\s*")


@dataclass(frozen=True, slots=True)
class ExtractedCalls:
    calls: tuple[ToolCall, ...]
    source: str
    """Where the calls came from: `native`, `action` or `trace`."""
    problems: tuple[str, ...] = ()
    """Malformed Action blocks and entries; each one means the answer broke the protocol."""


def extract_calls(response: ModelResponse, source: str = "auto",
                  tools: Mapping[str, ToolSpec] | None = None) -> ExtractedCalls:
    """The calls a check looks at. `auto` takes native calls when there are any, else the
    Action text; `trace` takes the calls executed during a multi-step run."""
    if source == "trace":
        return ExtractedCalls(tuple(step.call for step in response.steps), "trace")
    if source == "native" or (source == "auto" and response.tool_calls):
        calls = tuple(normalise_native(c) for c in response.tool_calls)
        # A multi-step Action run also lists its calls here; those never carry an id.
        label = "native" if source == "native" or any(c.id for c in calls) else "action"
        return ExtractedCalls(calls, label)
    return parse_actions(response.text, tools)


def normalise_native(call: ToolCall) -> ToolCall:
    """Decode arguments some providers hand over still as a JSON string."""
    if not isinstance(call.arguments, str) or call.parse_error:
        return call
    raw = call.arguments
    try:
        args = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return ToolCall(call.name, raw, call.raw_arguments or raw, call.id, f"{exc}")
    return ToolCall(call.name, args, call.raw_arguments or raw, call.id, None)


def parse_actions(text: str, tools: Mapping[str, ToolSpec] | None = None) -> ExtractedCalls:
    """Every `Action:` list in `text`, in order, with parameters bound to the declared tools."""
    tools = tools or {}
    calls: list[ToolCall] = []
    problems: list[str] = []
    block_no = 0
    pos = 0
    text = text or ""
    while block_no < MAX_ACTION_BLOCKS:
        marker = _ACTION.search(text, pos)
        if marker is None:
            break
        block = _block_after(text, marker.end())
        if block is None:
            # "Action:" in prose (or the prompt echoed back): not a block.
            pos = marker.end()
            continue
        body, pos = block.body, block.resume
        block_no += 1
        if block.too_long:
            problems.append(f"Action block {block_no} is longer than {MAX_BLOCK_CHARS} "
                            f"characters; not read: {shorten(body)}")
            continue
        value, error = lenient_loads(body)
        if error is not None:
            problems.append(f"Action block {block_no} is not valid JSON ({error}): "
                            f"{shorten(body)}")
            continue
        entries = value if isinstance(value, list) else [value]
        for k, entry in enumerate(entries, 1):
            call, problem = _entry_call(entry, tools)
            if problem:
                problems.append(f"Action block {block_no}, entry {k}: {problem}")
            if call is not None:
                calls.append(call)
    return ExtractedCalls(tuple(calls), "action", tuple(problems))


@dataclass(frozen=True, slots=True)
class _Block:
    body: str
    resume: int
    """Where to look for the next marker."""
    too_long: bool = False


def _block_after(text: str, start: int) -> _Block | None:
    """The JSON text following an `Action:` marker, or None when the marker is not followed by
    a list (fenced or not)."""
    i = _skip_space(text, start)
    fence = _FENCE.match(text, i)
    if fence:
        content_start = fence.end()
        close = text.find(fence.group(1), content_start)
        content_end = len(text) if close < 0 else close
        resume = len(text) if close < 0 else close + len(fence.group(1))
        if content_end - content_start > MAX_BLOCK_CHARS:
            return _Block(text[content_start:content_start + 200], resume, too_long=True)
        body = text[content_start:content_end].strip()
        if not body:
            return None
        if body[0] in "[{":
            # Prose after the list inside the fence is dropped, not parsed.
            end = _balanced_end(body, 0)
            if end is not None and body[end:].strip():
                body = body[:end]
        return _Block(body, resume)
    if text.startswith("`", i) and text[i + 1:i + 2] in ("[", "{"):
        i += 1  # an inline code span: `[...]`
    if i >= len(text) or text[i] not in "[{":
        return None
    end = _balanced_end(text, i)
    if end is not None:
        return _Block(text[i:end], end)
    if len(text) - i > MAX_BLOCK_CHARS:
        return _Block(text[i:i + 200], i + MAX_BLOCK_CHARS, too_long=True)
    # Unterminated: hand the rest over so the JSON error tells what is missing.
    return _Block(text[i:], len(text))


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


_INTERESTING = re.compile(r"[\[\]{}\"'\\]")


def _balanced_end(text: str, start: int) -> int | None:
    """The index just past the bracket closing the one at `start`, skipping strings in either
    quote style; None when it does not close within MAX_BLOCK_CHARS."""
    limit = min(len(text), start + MAX_BLOCK_CHARS)
    depth = 0
    quote: str | None = None
    escaped_until = -1
    for m in _INTERESTING.finditer(text, start, limit):
        i = m.start()
        if i < escaped_until:
            continue
        c = m.group()
        if quote:
            if c == "\\":
                escaped_until = i + 2
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def lenient_loads(body: str) -> tuple[Any, str | None]:
    """JSON, else JSON5 (single quotes, trailing commas, comments), else a Python literal
    (True/None, as models sometimes write); the strict parser's error when all fail.
    JSON5 is pyjson5, the parser evalspec's JSON extraction uses too."""
    try:
        return json.loads(body), None
    except (ValueError, RecursionError) as exc:
        strict_error = str(exc)
    if len(body) <= MAX_LENIENT_CHARS:
        try:
            return pyjson5.decode(body, maxdepth=MAX_DEPTH), None
        except Exception:  # pyjson5.Json5Exception and its kin; never let it out
            pass
        try:
            return _as_json(ast.literal_eval(body)), None
        except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError
            pass
    return None, strict_error


def _as_json(value: Any, depth: int = 0) -> Any:
    """A Python literal as the JSON value it spells; ValueError for sets, bytes, complex."""
    if depth > 100:
        raise ValueError("nested too deeply")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_as_json(v, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _as_json(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def _entry_call(entry: Any, tools: Mapping[str, ToolSpec]) -> tuple[ToolCall | None, str | None]:
    if not isinstance(entry, dict):
        return None, f"expected an object with tool_name and parameters, got {shorten(entry)}"
    name, params = _name_and_params(entry)
    if not isinstance(name, str) or not name.strip():
        return None, f"no tool_name in {shorten(entry)}"
    name = name.strip()
    raw = _dumps(params)
    args, error = bind_parameters(params, tools.get(name), name)
    return ToolCall(name, args, raw, None, error), None


def _name_and_params(entry: dict[str, Any]) -> tuple[Any, Any]:
    function = entry.get("function")
    if isinstance(function, dict):  # OpenAI's own shape, written out as text
        return function.get("name"), function.get("arguments", function.get("parameters"))
    name = next((entry[k] for k in _NAME_KEYS if k in entry), None)
    params = next((entry[k] for k in _PARAM_KEYS if k in entry), None)
    return name, params


def parameter_order(tool: ToolSpec) -> list[str]:
    """Positional order of a tool's parameters: required first (in the order declared), then
    the rest. `required` is a list, so its order survives JSON that sorts object keys."""
    schema = tool.parameters if isinstance(tool.parameters, Mapping) else {}
    props = schema.get("properties")
    names = list(props) if isinstance(props, Mapping) else []
    required = [r for r in schema.get("required") or () if isinstance(r, str)]
    return required + [n for n in names if n not in required]


def _declared_types(tool: ToolSpec, param: str) -> set[str]:
    props = tool.parameters.get("properties") if isinstance(tool.parameters, Mapping) else None
    prop = props.get(param) if isinstance(props, Mapping) else None
    if not isinstance(prop, Mapping):
        return set()
    t = prop.get("type")
    return {t} if isinstance(t, str) else {x for x in t or () if isinstance(x, str)}


def bind_parameters(params: Any, tool: ToolSpec | None,
                    name: str = "") -> tuple[Any, str | None]:
    """Named arguments for a call written in the text protocol, and the reason when the
    parameters cannot be bound (the arguments are then the value as written).

    An object is taken as named arguments. A bare value binds to the tool's parameters in
    positional order: `10` or `[10]` to the single parameter, `[3628800, 40320]` to (a, b).
    The protocol's template shows parameters as a string, so a bare string is read as what it
    spells: `"10"` is 10 for an integer parameter, `"a=1, b=2"` and `"1, 2"` bind by name and
    position; a string parameter keeps the string.
    """
    if params is None:
        return {}, None
    if isinstance(params, dict):
        return params, None
    label = name or "the tool"
    if tool is None:
        return params, f"cannot bind the bare value {shorten(params)}: {label} is not declared"
    order = parameter_order(tool)
    if isinstance(params, str):
        return _bind_string(params, tool, order, label)
    if isinstance(params, list):
        if len(params) == 1 and isinstance(params[0], dict):
            return params[0], None
        return _bind_positional(params, order, label)
    return _bind_positional([params], order, label)


def _bind_string(text: str, tool: ToolSpec, order: list[str],
                 label: str) -> tuple[Any, str | None]:
    if len(order) == 1 and "string" in _declared_types(tool, order[0]):
        return {order[0]: text}, None
    stripped = text.strip()
    value, error = lenient_loads(stripped) if len(stripped) <= MAX_LENIENT_CHARS else (None, "")
    if error is None and not isinstance(value, str):
        return bind_parameters(value, tool, label)
    pairs = _key_values(stripped, set(order))
    if pairs is not None:
        return pairs, None
    value, error = lenient_loads(f"[{stripped}]") if "," in stripped else (None, "")
    if error is None and isinstance(value, list):
        return _bind_positional(value, order, label)
    return _bind_positional([text], order, label)


def _key_values(text: str, names: set[str]) -> dict[str, Any] | None:
    """`a=1, b=2` or `a: 1, b: 2` when every key is a declared parameter."""
    out: dict[str, Any] = {}
    for part in text.split(","):
        m = _KEY_VALUE.match(part)
        if not m or m.group(1) not in names:
            return None
        raw = part[m.end():].strip()
        value, error = lenient_loads(raw)
        out[m.group(1)] = raw if error is not None else value
    return out or None


def _bind_positional(values: Sequence[Any], order: list[str],
                     label: str) -> tuple[Any, str | None]:
    if not order:
        return list(values), f"{label} declares no parameters to bind {shorten(list(values))} to"
    if len(values) > len(order):
        return list(values), (f"{label} takes {len(order)} parameter(s) ({', '.join(order)}), "
                              f"got {len(values)} values {shorten(list(values))}")
    return dict(zip(order, values, strict=False)), None


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return repr(value)[:MAX_BLOCK_CHARS]


def shorten(value: Any, limit: int = 80) -> str:
    """Text (or a value as JSON) on one line, cut to `limit` characters, for messages."""
    text = value if isinstance(value, str) else _dumps(value)
    if len(text) > 4 * limit:
        text = text[:4 * limit]  # no need to split megabytes to show a line
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def show(value: Any, limit: int = 80) -> str:
    """A value as JSON on one line (strings quoted, so "10" and 10 read differently)."""
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[:4 * limit]
    return shorten(_dumps(value), limit)


def show_name(name: str, limit: int = 60) -> str:
    """A tool name as written, quoted only when it is not an identifier."""
    return name if name.isidentifier() and len(name) <= limit else show(name, limit)
