"""`expect ...` lines -> CheckSpecs.

Each kind reads its terms like a tiny grammar of its own, so a mistake is reported at the term
that is wrong ("`contians` is not a text check; did you mean `contains`?") rather than as a
parse error. The parameter shapes produced here are documented in docs/plan.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from . import nodes as n
from .diagnostics import Diagnostics, did_you_mean
from .plan import CheckSpec, RubricSpec, ToolSpec
from .source import SourceFile, Span
from .values import Attrs, Invalid, describe, file_argument, literal

KINDS = ("number", "choice", "text", "json", "code", "calls", "judge", "pairwise", "all", "any")
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")
_TEXT_OPS = ("contains", "not_contains", "matches", "starts_with", "ends_with", "equals")
_TEXT_UNITS = ("chars", "words", "lines")
_JSON_CMPS = ("matches", "contains", "contains_all", "contains_any", "exists")


@dataclass
class ExpectContext:
    """What interpreting an expectation may need from the analysis."""

    diags: Diagnostics
    source: SourceFile
    resolve_rubric: Callable[[n.Ref], RubricSpec | None]
    resolve_tool: Callable[[str, Span], ToolSpec | None]
    resolve_model: Callable[[n.Ref], str | None]
    template_strings: list[tuple[str, Span]] = field(default_factory=list)
    uses_trace: bool = False

    def label(self, span: Span) -> str:
        if span.line == span.end_line:
            text = self.source.line_text(span.line)[span.col - 1: span.end_col - 1]
        else:
            lines = [self.source.line_text(i) for i in range(span.line, span.end_line + 1)]
            lines[0] = lines[0][span.col - 1:]
            lines[-1] = lines[-1][: span.end_col - 1]
            text = " ".join(lines)
        text = " ".join(text.split()).replace("[ ", "[").replace(", ]", "]").replace(",]", "]")
        return text if len(text) <= 160 else text[:157] + "..."

    def location(self, span: Span) -> str:
        return f"{span.file}:{span.line}:{span.col}"


class _Terms:
    """A cursor over an expectation's terms."""

    def __init__(self, check: n.Check, ctx: ExpectContext):
        self.items = list(check.terms)
        self.pos = 0
        self.check = check
        self.ctx = ctx

    def peek(self) -> n.Term | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> n.Term | None:
        term = self.peek()
        if term is not None:
            self.pos += 1
        return term

    def word(self) -> str | None:
        term = self.peek()
        if isinstance(term, n.Ref) and len(term.parts) == 1:
            return term.parts[0]
        if isinstance(term, n.NotWord):
            return "not"
        return None

    def end_span(self) -> Span:
        last = self.items[-1].span if self.items else self.check.kind_span
        return Span(last.file, last.end_line, last.end_col, last.end_line, last.end_col + 1)

    def missing(self, what: str, example: str) -> None:
        self.ctx.diags.error(self.end_span(), f"`expect {self.check.kind}` needs {what}",
                             f"for example: expect {example}")

    def modifiers(self, allowed: Sequence[str]) -> set[str]:
        found: set[str] = set()
        while (term := self.take()) is not None:
            word = term.parts[0] if isinstance(term, n.Ref) and len(term.parts) == 1 else None
            if word in allowed:
                found.add(word)
                continue
            if word is not None:
                hint = did_you_mean(word, allowed) or (
                    "allowed here: " + ", ".join(allowed) if allowed else None)
                self.ctx.diags.error(term.span, f"unknown option `{word}` for `{self.check.kind}`",
                                     hint)
            else:
                self.ctx.diags.error(term.span,
                                     f"unexpected {describe(term)} in `expect {self.check.kind}`")
        return found


def interpret(node: n.CheckNode, ctx: ExpectContext) -> CheckSpec | None:
    if isinstance(node, n.Negated):
        inner = interpret(node.check, ctx)
        if inner is None:
            return None
        return CheckSpec("not", {}, f"not {inner.label}", ctx.location(node.span), (inner,))
    kind = node.kind
    handler = _HANDLERS.get(kind)
    if handler is None:
        hint = did_you_mean(kind, KINDS) or "kinds of expectation: " + ", ".join(KINDS)
        ctx.diags.error(node.kind_span, f"unknown expectation `{kind}`", hint)
        return None
    if node.body is not None and kind not in _TAKES_BODY:
        ctx.diags.error(node.kind_span, f"`expect {kind}` takes no `{{ ... }}` block")
    try:
        result = handler(node, ctx)
    except Invalid:
        return None
    if result is None:
        return None
    params, children = result if isinstance(result, tuple) else (result, ())
    label = (f"{kind} of: " + " | ".join(c.label for c in children)) if children \
        else ctx.label(node.span)
    return CheckSpec(kind, params, label, ctx.location(node.span), children)


def _value_of(term: n.Term | None, ctx: ExpectContext) -> Any:
    if term is None or isinstance(term, n.Op | n.NotWord):
        raise Invalid
    value = literal(term, ctx.diags)
    _note_templates(term, ctx)
    return value


def _note_templates(term: n.Term, ctx: ExpectContext) -> None:
    if isinstance(term, n.Str):
        ctx.template_strings.append((term.value, term.span))
    elif isinstance(term, n.ListV):
        for item in term.items:
            _note_templates(item, ctx)
    elif isinstance(term, n.ObjectV):
        for pair in term.pairs:
            _note_templates(pair.value, ctx)


def _number_operand(term: n.Term | None, terms: _Terms, ctx: ExpectContext) -> float | str:
    """A number, or a template string that must render to one (data-driven cases)."""
    if isinstance(term, n.Num) and term.unit == "":
        return term.value
    if isinstance(term, n.Str) and "{{" in term.value:
        ctx.template_strings.append((term.value, term.span))
        return term.value
    if term is None:
        terms.missing("a number", f"{terms.check.kind} == 25")
        raise Invalid
    ctx.diags.error(term.span, f"expected a number, not {describe(term)}")
    raise Invalid


def _tolerance(terms: _Terms, ctx: ExpectContext) -> tuple[float | None, float | None]:
    nxt = terms.peek()
    if not (isinstance(nxt, n.Op) and nxt.op == "±"):
        return None, None
    terms.take()
    tol = terms.take()
    if isinstance(tol, n.Num) and tol.unit == "%":
        return None, tol.value / 100
    if isinstance(tol, n.Num) and tol.unit == "":
        return abs(tol.value), None
    ctx.diags.error(tol.span if tol else terms.end_span(),
                    "a tolerance is a number or a percentage, e.g. `± 0.01` or `± 1%`")
    raise Invalid


def _number(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    first = terms.take()
    if isinstance(first, n.Ref) and first.dotted == "in":
        values = terms.take()
        if not isinstance(values, n.ListV) or not values.items:
            ctx.diags.error(values.span if values else terms.end_span(),
                            "`in` takes a list of numbers, e.g. `expect number in [1, 2]`")
            raise Invalid
        numbers = [_number_operand(i, terms, ctx) for i in values.items]
        abs_tol, rel_tol = _tolerance(terms, ctx)
        terms.modifiers(())
        return {"op": "in", "values": numbers, "abs_tol": abs_tol, "rel_tol": rel_tol}
    if not isinstance(first, n.Op) or first.op not in _COMPARE:
        if first is None:
            terms.missing("a comparison", "number == 25")
        else:
            ctx.diags.error(first.span, f"expected a comparison (== != < <= > >=) or `in`, "
                            f"not {describe(first)}", "for example: expect number == 25")
        raise Invalid
    value = _number_operand(terms.take(), terms, ctx)
    abs_tol, rel_tol = _tolerance(terms, ctx)
    terms.modifiers(())
    return {"op": first.op, "value": value, "abs_tol": abs_tol, "rel_tol": rel_tol}


def _choice(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    options = terms.take()
    example = 'choice ["9.11", "9.9"] == "9.9"'
    if not isinstance(options, n.ListV) or len(options.items) < 2:
        if options is None:
            terms.missing("a list of options", example)
        else:
            ctx.diags.error(options.span, "`expect choice` needs a list of at least two options",
                            f"for example: expect {example}")
        raise Invalid
    names = [_option_text(i, ctx) for i in options.items]
    op = terms.take()
    if not (isinstance(op, n.Op) and op.op == "=="):
        if op is None:
            terms.missing("`==` and the expected option", example)
        else:
            ctx.diags.error(op.span, "expected `==` and the option the answer must choose")
        raise Invalid
    expected_node = terms.take()
    if expected_node is None:
        terms.missing("the expected option", example)
        raise Invalid
    expected = _option_text(expected_node, ctx)
    templated = any("{{" in x or "{%" in x for x in (*names, expected))
    if expected not in names and not templated:  # templated ones are checked per data row
        ctx.diags.error(expected_node.span, f"`{expected}` is not one of the options",
                        did_you_mean(expected, names) or "options: " + ", ".join(names))
    terms.modifiers(())
    for item in (*options.items, expected_node):
        _note_templates(item, ctx)
    return {"options": names, "expected": expected}


def _option_text(term: n.Term, ctx: ExpectContext) -> str:
    if isinstance(term, n.Str):
        return term.value
    if isinstance(term, n.Num) and not term.unit:
        return term.text
    ctx.diags.error(term.span, f"an option is a string or a number, not {describe(term)}")
    raise Invalid


def _text(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    word = terms.word()
    first = terms.take()
    if word == "not":
        following = terms.word()
        if following in ("contains", "matches", "starts_with", "ends_with", "equals"):
            terms.take()
            word = "not_contains" if following == "contains" else following
            if following != "contains":
                ctx.diags.error(first.span, f"write `expect not text {following} ...` to negate "
                                f"`{following}`")  # type: ignore[union-attr]
                raise Invalid
    if word in _TEXT_UNITS:
        return _length(word, terms, ctx)
    if word not in _TEXT_OPS:
        if first is None:
            terms.missing("an operation", 'text contains "Paris"')
        else:
            hint = did_you_mean(word or "", (*_TEXT_OPS, *_TEXT_UNITS)) or (
                "text checks: " + ", ".join((*_TEXT_OPS, *_TEXT_UNITS)))
            ctx.diags.error(first.span, f"`{word or describe(first)}` is not a text check", hint)
        raise Invalid
    value = terms.take()
    if not isinstance(value, n.Str):
        if value is None:
            terms.missing("a string", f'text {word} "..."')
        else:
            ctx.diags.error(value.span, f"`{word}` takes a string, not {describe(value)}")
        raise Invalid
    if word == "matches" and "{{" not in value.value:
        try:
            re.compile(value.value)
        except re.error as exc:
            ctx.diags.error(value.span, f"invalid regular expression: {exc.msg} at position "
                            f"{exc.pos}", 'write regular expressions as raw strings: r"\\d+"'
                            if not value.raw else None)
    ctx.template_strings.append((value.value, value.span))
    mods = terms.modifiers(("ignore_case", "normalize"))
    return {"op": word, "value": value.value, "ignore_case": "ignore_case" in mods,
            "normalize": "normalize" in mods}


def _length(unit: str, terms: _Terms, ctx: ExpectContext) -> dict[str, Any]:
    nxt = terms.take()
    low: float | None = None
    high: float | None = None
    if isinstance(nxt, n.Range):
        low = nxt.low.value if nxt.low else None
        high = nxt.high.value if nxt.high else None
    elif isinstance(nxt, n.Op) and nxt.op in _COMPARE and nxt.op != "!=":
        bound = terms.take()
        if not isinstance(bound, n.Num) or bound.unit:
            ctx.diags.error(bound.span if bound else terms.end_span(), "expected a count")
            raise Invalid
        v = bound.value
        low, high = {"==": (v, v), "<": (None, v - 1), "<=": (None, v), ">": (v + 1, None),
                     ">=": (v, None)}[nxt.op]
    else:
        ctx.diags.error(nxt.span if nxt else terms.end_span(),
                        f"`{unit}` takes a range or a bound, e.g. `{unit} 100..400` or "
                        f"`{unit} <= 2000`")
        raise Invalid
    if low is not None and high is not None and low > high:
        ctx.diags.error(nxt.span, f"the range is empty: {low:g} is more than {high:g}")
    terms.modifiers(())
    return {"op": "length", "unit": unit, "min": None if low is None else int(low),
            "max": None if high is None else int(high)}


@lru_cache(maxsize=1024)
def _schema_problem(schema_json: str) -> str | None:
    # Specs repeat the same schema across many cases; checking it once is enough.
    schema = json.loads(schema_json)
    try:
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        return f"invalid JSON Schema at {where}: {exc.message}"
    return None


def _check_schema(schema: Any, span: Span, ctx: ExpectContext) -> bool:
    if not isinstance(schema, dict | bool):
        ctx.diags.error(span, "a JSON Schema is an object")
        return False
    problem = _schema_problem(json.dumps(schema, sort_keys=True))
    if problem:
        ctx.diags.error(span, problem)
        return False
    return True


def _schema_value(term: n.Term, ctx: ExpectContext) -> dict[str, Any] | None:
    if isinstance(term, n.Call) and term.name == "file":
        found = file_argument(term, ctx.diags, ctx.source.path.parent)
        if found is None:
            return None
        try:
            schema = json.loads(found[1])
        except json.JSONDecodeError as exc:
            ctx.diags.error(term.span, f"`{found[0].name}` is not valid JSON: {exc.msg} at line "
                            f"{exc.lineno} column {exc.colno}")
            return None
    elif isinstance(term, n.ObjectV):
        schema = literal(term, ctx.diags)
    else:
        ctx.diags.error(term.span, 'a schema is an object or file("schema.json")')
        return None
    return schema if _check_schema(schema, term.span, ctx) else None


def _json(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    options = Attrs("`expect json`", check.body or (), ("schema", "lenient"), ctx.diags)
    lenient_attr = options.bool("lenient", False)
    word = terms.word()
    first = terms.take()
    if first is None:
        if "schema" in options:
            schema = _schema_value(options.node("schema"), ctx)  # type: ignore[arg-type]
            if schema is None:
                raise Invalid
            return {"op": "schema", "schema": schema, "lenient": bool(lenient_attr)}
        return {"op": "valid", "lenient": bool(lenient_attr)}
    if word == "valid":
        mods = terms.modifiers(("lenient",))
        return {"op": "valid", "lenient": "lenient" in mods or bool(lenient_attr)}
    if word == "schema":
        target = terms.take()
        if target is None:
            terms.missing("a schema", 'json schema file("company.schema.json")')
            raise Invalid
        schema = _schema_value(target, ctx)
        mods = terms.modifiers(("lenient",))
        if schema is None:
            raise Invalid
        return {"op": "schema", "schema": schema,
                "lenient": "lenient" in mods or bool(lenient_attr)}
    if word == "at":
        path = terms.take()
        if not isinstance(path, n.Str):
            ctx.diags.error(path.span if path else terms.end_span(),
                            'expected a path after `at`, e.g. `json at "$.name" == "Ada"`')
            raise Invalid
        _check_path(path, ctx)
        ctx.template_strings.append((path.value, path.span))
        cmp_term = terms.take()
        value: Any = None
        abs_tol = rel_tol = None
        if isinstance(cmp_term, n.Op) and cmp_term.op in _COMPARE:
            cmp = cmp_term.op
            value = _value_of(terms.take(), ctx)
            abs_tol, rel_tol = _tolerance(terms, ctx)
        elif isinstance(cmp_term, n.Ref) and cmp_term.dotted in _JSON_CMPS:
            cmp = cmp_term.dotted
            if cmp != "exists":
                value_node = terms.take()
                value = _value_of(value_node, ctx)
                if cmp in ("contains_all", "contains_any") and not isinstance(value, list):
                    ctx.diags.error(value_node.span,  # type: ignore[union-attr]
                                    f"`{cmp}` takes a list, e.g. [\"metformin\", \"aspirin\"]")
                if cmp == "matches" and isinstance(value, str):
                    try:
                        re.compile(value)
                    except re.error as exc:
                        ctx.diags.error(value_node.span,  # type: ignore[union-attr]
                                        f"invalid regular expression: {exc.msg}")
        else:
            word2 = cmp_term.dotted if isinstance(cmp_term, n.Ref) else None
            hint = did_you_mean(word2, _JSON_CMPS) if word2 else None
            ctx.diags.error(cmp_term.span if cmp_term else terms.end_span(),
                            "expected a comparison after the path: == != < <= > >= "
                            + " ".join(_JSON_CMPS), hint)
            raise Invalid
        mods = terms.modifiers(("ignore_case", "lenient"))
        return {"op": "field", "path": path.value, "cmp": cmp, "value": value,
                "abs_tol": abs_tol, "rel_tol": rel_tol, "ignore_case": "ignore_case" in mods,
                "lenient": "lenient" in mods or bool(lenient_attr)}
    hint = did_you_mean(word or "", ("valid", "schema", "at")) or "json checks: valid, schema, at"
    ctx.diags.error(first.span, f"`{word or describe(first)}` is not a json check", hint)
    raise Invalid


def _check_path(path: n.Str, ctx: ExpectContext) -> None:
    # The check's own path parser, so the compiler accepts exactly what the check runs.
    from .extract.jsonpath import PathError, parse_path

    if "{{" in path.value:
        return
    try:
        parse_path(path.value)
    except PathError as exc:
        ctx.diags.error(path.span, f"`{path.value}` is not a JSON path: "
                        f"{str(exc).split(': ', 1)[-1]}",
                        "paths look like $.company.name, $.items[0], $..name or $['a key']")


def _code(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    language = "python"
    lang_term = terms.take()
    if isinstance(lang_term, n.Ref) and len(lang_term.parts) == 1:
        language = lang_term.parts[0]
        if language != "python":
            ctx.diags.error(lang_term.span, f"code in `{language}` cannot be run yet",
                            "the sandbox runs python")
    elif lang_term is not None:
        ctx.diags.error(lang_term.span, "expected the language, e.g. `expect code python { ... }`")
    terms.modifiers(())
    opts = Attrs("`expect code`", check.body or (), (
        "tests", "stdin", "stdout", "pytest", "runs", "display", "events", "probe", "timeout",
        "memory", "block", "requirements"), ctx.diags)
    modes = [m for m in ("tests", "stdin", "pytest", "runs") if m in opts]
    if "stdout" in opts and "stdin" not in opts:
        modes.append("stdin")
    if len(set(modes)) > 1:
        ctx.diags.error(check.kind_span, "choose one way to test the code: tests, "
                        "stdin/stdout, pytest or runs")
    mode = {"tests": "tests", "stdin": "io", "pytest": "pytest", "runs": "runs"}.get(
        modes[0] if modes else "tests", "tests")
    pytest_text = None
    if "pytest" in opts:
        node = opts.node("pytest")
        if isinstance(node, n.Call) and node.name == "file":
            found = file_argument(node, ctx.diags, ctx.source.path.parent)
            pytest_text = found[1] if found else None
        else:
            pytest_text = opts.str("pytest")
    duration = None
    if "runs" in opts:
        duration = opts.duration("runs")
    display = opts.choice("display", ("none", "pygame", "curses"), "none")
    if display != "none" and mode != "runs":
        ctx.diags.error(opts.span("display"), "`display` goes with `runs = <duration>`")
    events = opts.str_list("events") or []
    timeout = opts.duration("timeout", max(10.0, (duration or 0) + 10.0))
    return {
        "language": language, "block": opts.str("block", "auto"), "mode": mode,
        "tests": opts.str("tests"), "stdin": opts.str("stdin", "" if mode == "io" else None),
        "stdout": opts.str("stdout"), "pytest": pytest_text, "duration_s": duration,
        "display": display, "events": events, "probe": opts.str("probe"),
        "timeout_s": timeout, "memory_mb": opts.size_mb("memory", 512),
        "requirements": opts.str_list("requirements") or [],
    }


def _calls(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    listed = terms.take()
    example = "calls [calculate_factorial(n = 10), calculate_factorial(n = 8)] any_order"
    if isinstance(listed, n.Call):
        listed = n.ListV((listed,), listed.span)
    if not isinstance(listed, n.ListV):
        if listed is None:
            terms.missing("the calls expected", example)
        else:
            ctx.diags.error(listed.span, "expected a list of calls",
                            f"for example: expect {example}")
        raise Invalid
    calls = []
    for item in listed.items:
        if not isinstance(item, n.Call):
            ctx.diags.error(item.span, f"expected a call such as `tool(arg = value)`, not "
                            f"{describe(item)}")
            continue
        call = _expected_call(item, ctx)
        if call is not None:
            calls.append(call)
    mods = terms.modifiers(("any_order", "in_order", "subset", "allow_extra", "action", "native",
                            "trace"))
    if {"any_order", "in_order"} <= mods:
        ctx.diags.error(check.kind_span, "`any_order` and `in_order` contradict each other")
    sources = mods & {"action", "native", "trace"}
    if len(sources) > 1:
        ctx.diags.error(check.kind_span, "choose one of `action`, `native` or `trace`")
    if "trace" in sources:
        ctx.uses_trace = True
    order = "subset" if "subset" in mods else "exact" if "in_order" in mods else "any"
    return {"calls": calls, "order": order, "allow_extra": "allow_extra" in mods or
            "subset" in mods, "source": next(iter(sources), "auto")}


def _expected_call(call: n.Call, ctx: ExpectContext) -> dict[str, Any] | None:
    tool = ctx.resolve_tool(call.name, call.span)
    if tool is None:
        return None
    props: Mapping[str, Any] = tool.parameters.get("properties", {})
    order = list(props)
    args: dict[str, list[Any]] = {}
    for index, arg in enumerate(call.args):
        name = arg.name
        if name is None:
            if index >= len(order):
                ctx.diags.error(arg.span, f"`{tool.name}` takes {len(order)} parameter(s); "
                                "name the arguments")
                continue
            name = order[index]
        if name not in props:
            ctx.diags.error(arg.span, f"`{tool.name}` has no parameter `{name}`",
                            did_you_mean(name, props) or "its parameters: " + ", ".join(props))
            continue
        if isinstance(arg.value, n.Call) and arg.value.name == "one_of":
            accepted = [_value_of(a.value, ctx) for a in arg.value.args]
        else:
            accepted = [_value_of(arg.value, ctx)]
        for value in accepted:
            problem = _type_problem(value, props[name])
            if problem:
                ctx.diags.error(arg.value.span, f"`{tool.name}({name})` {problem}")
        args[name] = accepted
    for required in tool.parameters.get("required", []):
        if required not in args:
            ctx.diags.warning(call.span, f"the expected call leaves out `{required}`, which "
                              f"`{tool.name}` requires", "any value will then be accepted for it")
    return {"name": tool.name, "args": args}


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_json))


def _type_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    if isinstance(value, str) and "{{" in value:
        return None  # filled in per data row; checked after rendering
    try:
        validator = _validator(json.dumps(schema, sort_keys=True))
        error = next(iter(validator.iter_errors(value)), None)
    except (jsonschema.SchemaError, jsonschema.exceptions.UnknownType):
        return None
    if error is None:
        return None
    return f"expects {schema.get('type', 'another type')}: {error.message}"


def _rubric_term(terms: _Terms, ctx: ExpectContext, example: str) -> RubricSpec | None:
    """The rubric an expectation names first; None when it names one that does not exist."""
    ref = terms.take()
    if not isinstance(ref, n.Ref):
        if ref is None:
            terms.missing("a rubric", example)
        else:
            ctx.diags.error(ref.span, "expected the name of a rubric")
        raise Invalid
    return ctx.resolve_rubric(ref)


def _judge(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    rubric = _rubric_term(terms, ctx, "judge rubrics.creative_writing >= 4")
    min_score = None
    op = terms.peek()
    if isinstance(op, n.Op):
        terms.take()
        bound = terms.take()
        if op.op != ">=" or not isinstance(bound, n.Num):
            ctx.diags.error(op.span, "a judge threshold is written `>= score`",
                            "for example: expect judge rubrics.creative_writing >= 4")
            raise Invalid
        min_score = bound.value
        if rubric is not None and not (rubric.scale_min <= min_score <= rubric.scale_max):
            ctx.diags.error(bound.span, f"{bound.text} is outside the scale of `{rubric.id}` "
                            f"({rubric.scale_min}..{rubric.scale_max})")
    terms.modifiers(())
    opts = Attrs("`expect judge`", check.body or (), ("samples", "aggregate"), ctx.diags)
    samples = opts.integer("samples", None, minimum=1, maximum=100)
    aggregate = opts.choice("aggregate", ("mean", "median", "min", "majority"), None)
    if rubric is None:
        raise Invalid
    return {"rubric": rubric.id, "min_score": min_score, "samples": samples,
            "aggregate": aggregate}


def _pairwise(check: n.Check, ctx: ExpectContext) -> dict[str, Any]:
    terms = _Terms(check, ctx)
    rubric = _rubric_term(terms, ctx, "pairwise rubrics.creative_writing")
    terms.modifiers(())
    opts = Attrs("`expect pairwise`", check.body or (), ("models", "samples"), ctx.diags)
    models = opts.ref_list("models")
    samples = opts.integer("samples", None, minimum=1, maximum=100)
    if rubric is None:
        raise Invalid
    names = [ctx.resolve_model(m) for m in models or ()]
    if rubric is None or None in names:
        raise Invalid
    if models is not None and len(names) < 2:
        ctx.diags.error(opts.span("models"), "a pairwise comparison needs at least two models")
    return {"rubric": rubric.id, "models": names or None, "samples": samples}


def _group(check: n.Check, ctx: ExpectContext) -> tuple[dict[str, Any], tuple[CheckSpec, ...]]:
    terms = _Terms(check, ctx)
    terms.modifiers(())
    if check.body is None:
        ctx.diags.error(check.kind_span, f"`expect {check.kind}` needs a block of expectations",
                        f"for example: expect {check.kind} {{\n    expect text contains \"a\"\n"
                        "    expect text contains \"b\"\n  }")
        raise Invalid
    children = []
    for stmt in check.body:
        if isinstance(stmt, n.Expect):
            spec = interpret(stmt.check, ctx)
            if spec is not None:
                children.append(spec)
        else:
            span = getattr(stmt, "name_span", None) or getattr(stmt, "kind_span", None) \
                or stmt.span
            ctx.diags.error(span, f"only `expect` lines go inside `expect {check.kind}`")
    if not children:
        ctx.diags.error(check.kind_span, f"`expect {check.kind}` has no expectations inside")
        raise Invalid
    if any(c.kind == "pairwise" for spec in children for c in spec.walk()):
        ctx.diags.error(check.kind_span, "`pairwise` compares models and cannot be combined "
                        f"inside `{check.kind}`")
    return {}, tuple(children)


_HANDLERS: dict[str, Callable[[n.Check, ExpectContext], Any]] = {
    "number": _number, "choice": _choice, "text": _text, "json": _json, "code": _code,
    "calls": _calls, "judge": _judge, "pairwise": _pairwise, "all": _group, "any": _group,
}
_TAKES_BODY = {"json", "code", "judge", "pairwise", "all", "any"}
