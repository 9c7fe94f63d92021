"""Semantic analysis: names, imports, types, templates. Every error at once.

Input: the entry module and what it imports (loader.py). Output: an `Analysis` holding the
resolved models, tools and rubrics as plan objects, and a `CaseTemplate` per case, which the
compiler expands (data rows, templates) into the plan's cases.
"""

from __future__ import annotations

import ast
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from . import nodes as n
from . import templates
from .diagnostics import Diagnostics, did_you_mean
from .expectations import ExpectContext, interpret
from .loader import LoadedModule
from .plan import CheckSpec, Criterion, GoldenExample, ModelSpec, RubricSpec, ToolSpec, content_hash
from .source import Span, display_path
from .values import Attrs, Invalid, describe, file_argument, literal

LOCAL_MODEL = "local"
SAMPLING = ("temperature", "max_tokens", "seed", "top_p", "stop")
_MODEL_ATTRS = ("provider", "id", "base_url", "api_key", *SAMPLING, "concurrency", "rpm",
                "timeout", "retries", "headers", "extra_body", "chat_format", "gguf",
                "structured_output")
_RUBRIC_ATTRS = ("description", "scale", "threshold", "judge", "samples", "aggregate",
                 "reference", "template", "temperature", "min_agreement")
_SUITE_ATTRS = ("system", "tags", "models", "samples", *SAMPLING, "tools", "tool_mode",
                "tool_steps", "reference", "vars")
_CASE_ATTRS = frozenset(("prompt", "messages", "id", "rows", "response_schema", *_SUITE_ATTRS))
_TOP_ATTRS = ("judge",)
_TYPES = {"int": "integer", "integer": "integer", "float": "number", "number": "number",
          "str": "string", "string": "string", "bool": "boolean", "boolean": "boolean",
          "list": "array", "array": "array", "object": "object", "dict": "object", "any": None}


@dataclass
class CaseTemplate:
    name: str
    title: str
    suite: str
    span: Span
    tags: list[str]
    messages: list[tuple[str, str, Span]]
    params: dict[str, Any]
    samples: int
    models: list[str]
    checks: list[CheckSpec]
    tools: list[str]
    tool_mode: str
    tool_steps: int
    response_schema: dict[str, Any] | None
    reference: str | None
    vars: dict[str, Any]
    rows: list[dict[str, Any]] | None
    rows_span: Span | None
    id_template: str | None
    template_strings: list[tuple[str, Span]]


@dataclass
class Analysis:
    entry: LoadedModule
    models: dict[str, ModelSpec] = field(default_factory=dict)
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    rubrics: dict[str, RubricSpec] = field(default_factory=dict)
    judge: str | None = None
    cases: list[CaseTemplate] = field(default_factory=list)


@dataclass
class _Scope:
    loaded: LoadedModule
    is_entry: bool
    decls: dict[str, dict[str, n.Block]] = field(default_factory=lambda: {
        "model": {}, "tool": {}, "rubric": {}})
    aliases: dict[str, _Scope] = field(default_factory=dict)
    merged: list[_Scope] = field(default_factory=list)
    top: Attrs | None = None

    def qualify(self, name: str) -> str:
        return name if self.is_entry else f"{self.loaded.namespace}.{name}"


_SAMPLING_KEYS = frozenset(SAMPLING)


class Analyzer:
    def __init__(self, entry: LoadedModule, diags: Diagnostics):
        self.diags = diags
        self.entry = entry
        self.scopes: dict[str, _Scope] = {}
        self.result = Analysis(entry)
        self._built: dict[tuple[str, str, str], Any] = {}

    # scopes -------------------------------------------------------------------------------
    def _scope(self, loaded: LoadedModule, is_entry: bool = False) -> _Scope:
        if loaded.key in self.scopes:
            return self.scopes[loaded.key]
        scope = _Scope(loaded, is_entry)
        self.scopes[loaded.key] = scope
        for stmt, child in loaded.imports:
            child_scope = self._scope(child)
            if stmt.alias:
                if stmt.alias in scope.aliases:
                    self.diags.error(stmt.span, f"the alias `{stmt.alias}` is used twice")
                scope.aliases[stmt.alias] = child_scope
            else:
                scope.merged.append(child_scope)
        allowed_top = {"model", "tool", "rubric", "suite", "case"}
        for stmt in loaded.module.statements:
            if isinstance(stmt, n.Block):
                if stmt.kind not in allowed_top:
                    self.diags.error(stmt.kind_span, f"unknown block `{stmt.kind}`",
                                     did_you_mean(stmt.kind, allowed_top) or
                                     "top-level blocks: model, tool, rubric, suite, case")
                    continue
                if stmt.kind in scope.decls:
                    self._declare(scope, stmt)
            elif isinstance(stmt, n.Expect):
                self.diags.error(stmt.span, "`expect` belongs inside a case",
                                 "put it in a `case NAME { ... }` block")
            elif isinstance(stmt, n.Field):
                self.diags.error(stmt.span, "parameter declarations belong in a tool's `params` "
                                 "block")
        scope.top = Attrs("the file", [s for s in loaded.module.statements
                                       if isinstance(s, n.Attr)], _TOP_ATTRS, self.diags)
        return scope

    def _declare(self, scope: _Scope, block: n.Block) -> None:
        if block.name is None:
            self.diags.error(block.kind_span, f"a {block.kind} needs a name",
                             f"for example: {block.kind} my_{block.kind} {{ ... }}")
            return
        table = scope.decls[block.kind]
        for kind, other in scope.decls.items():
            if block.name in other:
                first = other[block.name].name_span
                self.diags.error(block.name_span or block.kind_span,
                                 f"`{block.name}` is already declared as a {kind} at line "
                                 f"{first.line if first else '?'}")
                return
        table[block.name] = block

    def _lookup(self, scope: _Scope, ref: n.Ref, kind: str) -> tuple[_Scope, n.Block] | None:
        parts = ref.parts
        if len(parts) == 1:
            name = parts[0]
            if name in scope.decls[kind]:
                return scope, scope.decls[kind][name]
            found = [(s, s.decls[kind][name]) for s in scope.merged if name in s.decls[kind]]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                self.diags.error(ref.span, f"`{name}` is declared by several imports: "
                                 + ", ".join(s.loaded.key for s, _ in found),
                                 "import them with `as` and write alias.name")
                return None
            candidates = [*scope.decls[kind], *(k for s in scope.merged for k in s.decls[kind]),
                          *(f"{a}.{k}" for a, s in scope.aliases.items() for k in s.decls[kind])]
            other_kind = next((k for k, t in scope.decls.items() if name in t), None)
            hint = (f"`{name}` is a {other_kind}, not a {kind}" if other_kind else
                    did_you_mean(name, candidates) or (
                        f"declared {kind}s: " + ", ".join(sorted(candidates)) if candidates
                        else f"no {kind} is declared; declare one with `{kind} NAME {{ ... }}`"))
            self.diags.error(ref.span, f"unknown {kind} `{name}`", hint)
            return None
        if len(parts) == 2 and parts[0] in scope.aliases:
            target = scope.aliases[parts[0]]
            if parts[1] in target.decls[kind]:
                return target, target.decls[kind][parts[1]]
            hint = did_you_mean(parts[1], target.decls[kind]) or (
                f"`{target.loaded.key}` declares: " + (", ".join(sorted(target.decls[kind]))
                                                       or f"no {kind}s"))
            self.diags.error(ref.span, f"`{target.loaded.key}` has no {kind} `{parts[1]}`", hint)
            return None
        hint = did_you_mean(parts[0], scope.aliases) if scope.aliases else \
            f"import a file with `import \"file.eval\" as {parts[0]}`"
        self.diags.error(ref.span, f"unknown import alias `{parts[0]}`", hint)
        return None

    # declarations -------------------------------------------------------------------------
    def model(self, scope: _Scope, ref: n.Ref) -> str | None:
        found = self._lookup(scope, ref, "model")
        if found is None:
            return None
        owner, block = found
        return self._model(owner, block).name

    def _model(self, scope: _Scope, block: n.Block) -> ModelSpec:
        key = (scope.loaded.key, "model", block.name or "")
        if key in self._built:
            return self._built[key]
        self._no_blocks(block)
        a = Attrs(f"model `{block.name}`", block.body, _MODEL_ATTRS, self.diags)
        provider = a.choice("provider", ("openai", "local"), "openai")
        model_id = a.str("id")
        if provider == "openai" and model_id is None:
            self.diags.error(block.name_span or block.span, f"model `{block.name}` needs an `id`",
                             'for example: id = "gpt-4o"')
        base_url, base_url_env = self._base_url(a)
        api_key_env = self._api_key(a)
        params: dict[str, Any] = {}
        self._sampling(a, params)
        headers = a.literal("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            self.diags.error(a.span("headers"), "`headers` must be an object of strings")
            headers = {}
        extra_body = a.literal("extra_body") or {}
        if not isinstance(extra_body, dict):
            self.diags.error(a.span("extra_body"), "`extra_body` must be an object")
            extra_body = {}
        gguf = None
        if "gguf" in a:
            gguf_rel = a.str("gguf")
            if gguf_rel:
                gguf_path = (scope.loaded.source.path.parent / gguf_rel).resolve()
                if not gguf_path.is_file():
                    self.diags.warning(a.node("gguf").span,  # type: ignore[union-attr]
                                       f"no GGUF file at {gguf_path} yet")
                # As the user would name it, so the plan reads the same on every machine.
                gguf = display_path(gguf_path)
        spec = ModelSpec(
            name=scope.qualify(block.name or ""), provider=provider or "openai",
            model_id=model_id or ("gemma-3-270m" if provider == "local" else ""),
            base_url=base_url, base_url_env=base_url_env, api_key_env=api_key_env,
            params=params, headers=headers, extra_body=extra_body,
            concurrency=a.integer("concurrency", None, minimum=1, maximum=10_000),
            rpm=a.integer("rpm", None, minimum=1),
            timeout_s=a.duration("timeout", 120.0) or 120.0,
            retries=a.integer("retries", 4, minimum=0, maximum=20) or 0,
            chat_format=a.str("chat_format", "alpaca" if provider == "local" else None),
            gguf=gguf, structured_output=bool(a.bool("structured_output", True)))
        self._built[key] = spec
        self.result.models[spec.name] = spec
        return spec

    def _base_url(self, a: Attrs) -> tuple[str | None, str | None]:
        node = a.node("base_url")
        if node is None:
            return None, None
        if isinstance(node, n.Str):
            return node.value, None
        env = self._env_call(node, "base_url")
        if env is None:
            return None, None
        return env

    def _env_call(self, node: n.Value, attr: str) -> tuple[str | None, str | None] | None:
        if not (isinstance(node, n.Call) and node.name == "env" and 1 <= len(node.args) <= 2
                and all(isinstance(x.value, n.Str) and x.name is None for x in node.args)):
            self.diags.error(node.span, f'`{attr}` takes a string or env("VARIABLE")')
            return None
        var = node.args[0].value.value  # type: ignore[union-attr]
        default = node.args[1].value.value if len(node.args) == 2 else None  # type: ignore
        return default, var

    def _api_key(self, a: Attrs) -> str | None:
        node = a.node("api_key")
        if node is None:
            return None
        if isinstance(node, n.Str):
            # The literal is deliberately not echoed: it may be a real key.
            self.diags.error(node.span, "`api_key` must name an environment variable, never "
                             "hold the key itself", 'write api_key = env("OPENAI_API_KEY")')
            return None
        env = self._env_call(node, "api_key")
        if env is None:
            return None
        if env[0] is not None:
            self.diags.error(node.span, "`api_key` takes no default value",
                             "a default key in a spec would be a secret in the repository")
        return env[1]

    def _sampling(self, a: Attrs, params: dict[str, Any]) -> None:
        if a.values.keys().isdisjoint(_SAMPLING_KEYS):
            return  # most cases set none of them
        if "temperature" in a:
            params["temperature"] = a.number("temperature", minimum=0, maximum=2)
        if "max_tokens" in a:
            params["max_tokens"] = a.integer("max_tokens", minimum=1)
        if "seed" in a:
            params["seed"] = a.integer("seed")
        if "top_p" in a:
            params["top_p"] = a.number("top_p", minimum=0, maximum=1)
        if "stop" in a:
            params["stop"] = a.str_list("stop")
        for key in [k for k, v in params.items() if v is None]:
            del params[key]

    def tool(self, scope: _Scope, name: str, span: Span) -> ToolSpec | None:
        found = self._lookup(scope, n.Ref((name,), span), "tool")
        if found is None:
            return None
        return self._tool(*found)

    def _tool(self, scope: _Scope, block: n.Block) -> ToolSpec:
        key = (scope.loaded.key, "tool", block.name or "")
        if key in self._built:
            return self._built[key]
        a = Attrs(f"tool `{block.name}`", block.body, ("description", "schema", "impl"),
                  self.diags)
        params_blocks = [b for b in block.body if isinstance(b, n.Block) and b.kind == "params"]
        for b in block.body:
            if isinstance(b, n.Block) and b.kind != "params":
                self.diags.error(b.kind_span, f"unknown block `{b.kind}` in a tool",
                                 did_you_mean(b.kind, ["params"])
                                 or "a tool has one `params` block")
            elif isinstance(b, n.Expect | n.Field | n.Import):
                self.diags.error(b.span, "only attributes and a `params` block go in a tool")
        schema: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        if params_blocks and "schema" in a:
            self.diags.error(a.span("schema"), "give either a `params` block or a `schema`")
        if params_blocks:
            schema = self._params_schema(params_blocks[0])
            for extra in params_blocks[1:]:
                self.diags.error(extra.kind_span, "a tool has one `params` block")
        elif "schema" in a:
            node = a.node("schema")
            if isinstance(node, n.Call) and node.name == "file":
                found = file_argument(node, self.diags, scope.loaded.source.path.parent)
                try:
                    schema = json.loads(found[1]) if found else schema
                except json.JSONDecodeError as exc:
                    self.diags.error(node.span, f"not valid JSON: {exc.msg} (line {exc.lineno})")
            else:
                schema = a.literal("schema") or schema
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                self.diags.error(a.span("schema"), f"invalid JSON Schema: {exc.message}")
        description = a.str("description")
        impl_source = impl_function = impl_file = None
        if "impl" in a:
            impl = a.str("impl") or ""
            impl_file, _, impl_function = impl.partition(":")
            if not impl_function:
                self.diags.error(a.node("impl").span,  # type: ignore[union-attr]
                                 '`impl` is "file.py:function"')
            else:
                impl_source = self._impl_source(scope, a.node("impl"), impl_file,  # type: ignore
                                                impl_function)
        if impl_source and impl_function and not params_blocks and "schema" not in a:
            # No declared parameters: the implementation's signature and docstring say them.
            derived, doc = _signature_schema(impl_source, impl_function)
            schema = derived
            description = description or doc
        if description is None:
            self.diags.warning(block.name_span or block.span, f"tool `{block.name}` has no "
                               "description", "models call tools better when told what they do")
        spec = ToolSpec(block.name or "", description or "", schema, impl_source,
                        impl_function or None, impl_file or None)
        self._built[key] = spec
        if spec.name in self.result.tools and self.result.tools[spec.name] != spec:
            self.diags.error(block.name_span or block.span,
                             f"two different tools are named `{spec.name}`")
        self.result.tools[spec.name] = spec
        return spec

    def _impl_source(self, scope: _Scope, node: n.Str, rel: str, function: str) -> str | None:
        path = (scope.loaded.source.path.parent / rel).resolve()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            self.diags.error(node.span, f"no file `{rel}` (looked in {path.parent})")
            return None
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError as exc:
            self.diags.error(node.span, f"`{rel}` has a syntax error at line {exc.lineno}: "
                             f"{exc.msg}")
            return None
        functions = [f.name for f in tree.body if isinstance(f, ast.FunctionDef)]
        if function not in functions:
            self.diags.error(node.span, f"`{rel}` defines no function `{function}`",
                             did_you_mean(function, functions) or
                             ("it defines: " + ", ".join(functions) if functions else None))
            return None
        return text

    def _params_schema(self, block: n.Block) -> dict[str, Any]:
        props: dict[str, Any] = {}
        required: list[str] = []
        for stmt in block.body:
            if not isinstance(stmt, n.Field):
                self.diags.error(stmt.span, "a `params` block lists parameters as "
                                 '`name: type "description"`')
                continue
            if stmt.name in props:
                self.diags.error(stmt.span, f"parameter `{stmt.name}` is declared twice")
                continue
            prop = self._type_schema(stmt.type)
            if stmt.description is not None:
                prop["description"] = stmt.description.value
            if stmt.default is not None:
                try:
                    prop["default"] = literal(stmt.default, self.diags)
                except Invalid:
                    pass
            props[stmt.name] = prop
            if not stmt.optional:
                required.append(stmt.name)
        return {"type": "object", "properties": props, "required": required}

    def _type_schema(self, t: n.TypeExpr) -> dict[str, Any]:
        if t.name == "enum":
            return {"type": "string", "enum": list(t.choices)}
        if t.name not in _TYPES:
            self.diags.error(t.span, f"unknown type `{t.name}`",
                             did_you_mean(t.name, _TYPES) or "types: " + ", ".join(_TYPES))
            return {}
        json_type = _TYPES[t.name]
        out: dict[str, Any] = {} if json_type is None else {"type": json_type}
        if t.args:
            if json_type != "array":
                self.diags.error(t.span, f"`{t.name}` takes no element type")
            else:
                out["items"] = self._type_schema(t.args[0])
        return out

    def rubric(self, scope: _Scope, ref: n.Ref) -> RubricSpec | None:
        found = self._lookup(scope, ref, "rubric")
        if found is None:
            return None
        return self._rubric(*found)

    def _rubric(self, scope: _Scope, block: n.Block) -> RubricSpec:
        key = (scope.loaded.key, "rubric", block.name or "")
        if key in self._built:
            return self._built[key]
        a = Attrs(f"rubric `{block.name}`", block.body, _RUBRIC_ATTRS, self.diags)
        pass_fail = False
        scale_min, scale_max = 1, 5
        scale = a.node("scale")
        if isinstance(scale, n.Ref) and scale.dotted == "pass_fail":
            pass_fail, scale_min, scale_max = True, 0, 1
        elif isinstance(scale, n.Range) and scale.low and scale.high and scale.low.is_int \
                and scale.high.is_int and scale.low.value < scale.high.value:
            scale_min, scale_max = int(scale.low.value), int(scale.high.value)
        elif scale is not None:
            self.diags.error(scale.span, "`scale` is a range of whole numbers such as `1..5` or "
                             "`1..10`, or `pass_fail`")
        threshold = a.number("threshold")
        if threshold is None:
            threshold = 1 if pass_fail else scale_max - (scale_max - scale_min) // 4
            if not pass_fail:
                self.diags.warning(block.name_span or block.span,
                                   f"rubric `{block.name}` has no `threshold`; "
                                   f"passing at {threshold:g}", "set `threshold = N` to decide")
        elif not scale_min <= threshold <= scale_max:
            self.diags.error(a.node("threshold").span,  # type: ignore[union-attr]
                             f"threshold {threshold:g} is outside the scale "
                             f"{scale_min}..{scale_max}")
        judge = None
        judge_node = a.node("judge")
        if judge_node is not None:
            if isinstance(judge_node, n.Ref):
                judge = self.model(scope, judge_node)
            else:
                self.diags.error(judge_node.span, "`judge` names a model, e.g. `judge = gpt4o`")
        template = None
        template_node = a.node("template")
        if isinstance(template_node, n.Call) and template_node.name == "file":
            found = file_argument(template_node, self.diags, scope.loaded.source.path.parent)
            template = found[1] if found else None
        elif template_node is not None:
            template = a.str("template")
        if template is not None:
            try:
                templates.variables(template)
            except templates.TemplateProblem as exc:
                self.diags.error(template_node.span,  # type: ignore[union-attr]
                                 f"the judge template does not parse: {exc.message}")
        criteria: list[Criterion] = []
        examples: list[GoldenExample] = []
        for stmt in block.body:
            if isinstance(stmt, n.Block) and stmt.kind == "criterion":
                crit = self._criterion(stmt, scale_min, scale_max, pass_fail)
                if crit is not None:
                    if any(c.name == crit.name for c in criteria):
                        self.diags.error(stmt.name_span or stmt.span,
                                         f"criterion `{crit.name}` is declared twice")
                    criteria.append(crit)
            elif isinstance(stmt, n.Block) and stmt.kind == "example":
                ex = self._example(stmt, scale_min, scale_max, pass_fail)
                if ex is not None:
                    examples.append(ex)
            elif isinstance(stmt, n.Block):
                self.diags.error(stmt.kind_span, f"unknown block `{stmt.kind}` in a rubric",
                                 did_you_mean(stmt.kind, ["criterion", "example"]) or
                                 "a rubric holds `criterion` and `example` blocks")
            elif not isinstance(stmt, n.Attr):
                self.diags.error(stmt.span, "only attributes, `criterion` and `example` blocks "
                                 "go in a rubric")
        description = a.str("description") or ""
        if not criteria:
            if not description:
                self.diags.error(block.name_span or block.span, f"rubric `{block.name}` has no "
                                 "criteria and no description: the judge would not know what to "
                                 "score", "add `criterion NAME { description = \"...\" }`")
            criteria.append(Criterion("overall", description or block.name or ""))
        title = block.title.value if block.title else block.name or ""
        line = (block.name_span or block.span).line
        spec = RubricSpec(
            id=scope.qualify(block.name or ""), name=title, description=description,
            scale_min=scale_min, scale_max=scale_max, pass_fail=pass_fail, threshold=threshold,
            criteria=tuple(criteria), origin=f"{scope.loaded.key}:{line}",
            reference=a.str("reference"), examples=tuple(examples), judge=judge,
            template=template, samples=a.integer("samples", 1, minimum=1, maximum=100) or 1,
            aggregate=a.choice("aggregate", ("mean", "median", "min", "majority"), "mean")
            or "mean",
            temperature=a.number("temperature", 0.0, minimum=0, maximum=2) or 0.0,
            min_agreement=a.number("min_agreement", None, minimum=0, maximum=1))
        spec = _with_hash(spec)
        self._built[key] = spec
        self.result.rubrics[spec.id] = spec
        return spec

    def _criterion(self, block: n.Block, lo: int, hi: int, pass_fail: bool) -> Criterion | None:
        self._no_blocks(block)
        a = Attrs(f"criterion `{block.name}`", block.body, ("description", "weight", "scores"),
                  self.diags)
        if block.name is None:
            self.diags.error(block.kind_span, "a criterion needs a name",
                             "for example: criterion imagery { ... }")
            return None
        description = a.str("description")
        if description is None:
            self.diags.error(block.name_span or block.span,
                             f"criterion `{block.name}` needs a `description`")
        descriptors: dict[str, str] = {}
        scores = a.node("scores")
        if isinstance(scores, n.ObjectV):
            for pair in scores.pairs:
                key = pair.key
                valid = (key in ("pass", "fail") if pass_fail else
                         key.isdigit() and lo <= int(key) <= hi)
                if not valid:
                    expected = "`pass` and `fail`" if pass_fail else f"scores {lo}..{hi}"
                    self.diags.error(pair.key_span, f"`{key}` is not on the rubric's scale",
                                     f"describe {expected}")
                if not isinstance(pair.value, n.Str):
                    self.diags.error(pair.value.span, "a score descriptor is a string")
                    continue
                descriptors[key] = pair.value.value
        elif scores is not None:
            self.diags.error(scores.span, '`scores` is an object, e.g. {1: "poor", 5: "vivid"}')
        return Criterion(block.name, description or "",
                         a.number("weight", 1.0, minimum=0) or 0.0, descriptors)

    def _example(self, block: n.Block, lo: int, hi: int, pass_fail: bool) -> GoldenExample | None:
        self._no_blocks(block)
        a = Attrs("an example", block.body, ("text", "score", "prompt"), self.diags)
        text = a.str("text")
        if text is None:
            self.diags.error(block.kind_span, "an example needs `text`")
        score_node = a.node("score")
        score: float | None = None
        if pass_fail and isinstance(score_node, n.Ref) and score_node.dotted in ("pass", "fail"):
            score = 1.0 if score_node.dotted == "pass" else 0.0
        elif score_node is not None:
            score = a.number("score")
            if score is not None and not lo <= score <= hi:
                self.diags.error(score_node.span, f"score {score:g} is outside the scale "
                                 f"{lo}..{hi}")
        else:
            self.diags.error(block.kind_span, "an example needs the `score` it must get")
        if text is None or score is None:
            return None
        return GoldenExample(text, score, a.str("prompt"))

    def _no_blocks(self, block: n.Block) -> None:
        for stmt in block.body:
            if isinstance(stmt, n.Block):
                self.diags.error(stmt.kind_span, f"a {block.kind} holds no `{stmt.kind}` block")
            elif isinstance(stmt, n.Expect):
                self.diags.error(stmt.span, f"`expect` does not belong in a {block.kind}")
            elif isinstance(stmt, n.Field | n.Import):
                self.diags.error(stmt.span, f"only attributes go in a {block.kind}")

    # entry --------------------------------------------------------------------------------
    def run(self) -> Analysis:
        scope = self._scope(self.entry, is_entry=True)
        # Every declaration is checked, used or not: a typo in an unused rubric is still a typo.
        for s in self.scopes.values():
            for block in s.decls["model"].values():
                self._model(s, block)
            for block in s.decls["tool"].values():
                self._tool(s, block)
            for block in s.decls["rubric"].values():
                self._rubric(s, block)
        own_models = [self._model(scope, b).name for b in scope.decls["model"].values()]
        assert scope.top is not None
        judge_node = scope.top.node("judge")
        if isinstance(judge_node, n.Ref):
            self.result.judge = self.model(scope, judge_node)
        elif judge_node is not None:
            self.diags.error(judge_node.span, "`judge` names a model, e.g. `judge = gpt4o`")
        if not own_models:
            self.result.models.setdefault(LOCAL_MODEL, ModelSpec(
                name=LOCAL_MODEL, provider="local", model_id="gemma-3-270m",
                chat_format="alpaca", params={"max_tokens": 256}))
            own_models = [LOCAL_MODEL]
            if self.result.judge is None:
                self.result.judge = LOCAL_MODEL
        defaults = _SuiteDefaults(self.entry.source.path.stem, [], None, own_models)
        for stmt in self.entry.module.statements:
            if isinstance(stmt, n.Block) and stmt.kind == "suite":
                self._suite(scope, stmt, defaults)
            elif isinstance(stmt, n.Block) and stmt.kind == "case":
                self._case(scope, stmt, defaults, None)
        seen: dict[str, Span] = {}
        for case in self.result.cases:
            key = f"{case.suite}/{case.name}"
            if key in seen:
                self.diags.error(case.span, f"case `{case.name}` is declared twice in suite "
                                 f"`{case.suite}` (first at line {seen[key].line})")
            seen.setdefault(key, case.span)
        self._prune_models()
        return self.result

    def _prune_models(self) -> None:
        """The plan keeps the models that cases run on and the judges that score them."""
        used = {m for c in self.result.cases for m in c.models}
        used |= {r.judge for r in self.result.rubrics.values() if r.judge}
        if self.result.judge:
            used.add(self.result.judge)
        self.result.models = {k: v for k, v in self.result.models.items() if k in used}

    def _suite(self, scope: _Scope, block: n.Block, defaults: _SuiteDefaults) -> None:
        if block.name is None:
            self.diags.error(block.kind_span, "a suite needs a name",
                             "for example: suite math { ... }")
            return
        a = Attrs(f"suite `{block.name}`", block.body, _SUITE_ATTRS, self.diags)
        models = defaults.models
        refs = a.ref_list("models")
        if refs is not None:
            models = [m for m in (self.model(scope, r) for r in refs) if m]
        suite = _SuiteDefaults(block.name, a.str_list("tags") or [], a, models)
        cases = 0
        for stmt in block.body:
            if isinstance(stmt, n.Block) and stmt.kind == "case":
                self._case(scope, stmt, suite, a)
                cases += 1
            elif isinstance(stmt, n.Block):
                self.diags.error(stmt.kind_span, f"unknown block `{stmt.kind}` in a suite",
                                 did_you_mean(stmt.kind, ["case"]) or "a suite holds cases")
            elif isinstance(stmt, n.Expect):
                self.diags.error(stmt.span, "`expect` belongs inside a case")
            elif not isinstance(stmt, n.Attr):
                self.diags.error(stmt.span, "only attributes and cases go in a suite")
        if cases == 0:
            self.diags.warning(block.name_span or block.span, f"suite `{block.name}` has no cases")

    def _case(self, scope: _Scope, block: n.Block, suite: _SuiteDefaults,
              suite_attrs: Attrs | None) -> None:
        if block.name is None:
            self.diags.error(block.kind_span, "a case needs a name", "for example: case S1 { ... }")
            return
        a = Attrs(f"case `{block.name}`", block.body, _CASE_ATTRS, self.diags)

        def pick(name: str) -> Attrs | None:
            if name in a:
                return a
            if suite_attrs is not None and name in suite_attrs:
                return suite_attrs
            return None

        template_strings: list[tuple[str, Span]] = []
        messages = self._messages(scope, a, pick("system"), template_strings, block)
        params: dict[str, Any] = {}
        if suite_attrs is not None:
            self._sampling(suite_attrs, params)
        self._sampling(a, params)
        samples_from = pick("samples")
        samples = samples_from.integer("samples", 1, minimum=1, maximum=1000) if samples_from \
            else 1
        models = suite.models
        if "models" in a:
            refs = a.ref_list("models") or []
            models = [m for m in (self.model(scope, r) for r in refs) if m]
        tools: list[str] = []
        tools_from = pick("tools")
        if tools_from is not None:
            for ref in tools_from.ref_list("tools") or []:
                spec = self.tool(scope, ref.dotted, ref.span)
                if spec is not None:
                    tools.append(spec.name)
        mode_from = pick("tool_mode")
        tool_mode = mode_from.choice("tool_mode", ("native", "action"), "native") if mode_from \
            else "native"
        steps_from = pick("tool_steps")
        tool_steps = steps_from.integer("tool_steps", 0, minimum=0, maximum=50) if steps_from \
            else 0
        if tool_steps and tool_mode == "native" and not tools:
            self.diags.error(block.name_span or block.span, "`tool_steps` needs `tools` to "
                             "execute", "add tools = [tool_a, tool_b]")
        reference_from = pick("reference")
        reference = reference_from.str("reference") if reference_from else None
        if reference:
            template_strings.append((reference, reference_from.node("reference").span))  # type: ignore
        vars_: dict[str, Any] = {}
        for source in (suite_attrs, a):
            if source is not None and "vars" in source:
                value = source.literal("vars")
                if isinstance(value, dict):
                    vars_.update(value)
                else:
                    self.diags.error(source.span("vars"), "`vars` is an object, e.g. "
                                     '{language: "French"}')
        rows, rows_span = self._rows(scope, a)
        response_schema = None
        if "response_schema" in a:
            response_schema = self._response_schema(scope, a)
        ctx = ExpectContext(
            self.diags, scope.loaded.source,
            resolve_rubric=lambda ref: self.rubric(scope, ref),
            resolve_tool=lambda name, span: self.tool(scope, name, span),
            resolve_model=lambda ref: self.model(scope, ref),
            template_strings=template_strings)
        checks: list[CheckSpec] = []
        for stmt in block.body:
            if isinstance(stmt, n.Expect):
                spec = interpret(stmt.check, ctx)
                if spec is not None:
                    checks.append(spec)
            elif isinstance(stmt, n.Block):
                self.diags.error(stmt.kind_span, f"a case holds no `{stmt.kind}` block",
                                 "expectations are written `expect ...`")
            elif isinstance(stmt, n.Field | n.Import):
                self.diags.error(stmt.span, "only attributes and `expect` lines go in a case")
        has_expect = any(isinstance(s, n.Expect) for s in block.body)
        if not has_expect:
            self.diags.error(block.name_span or block.span,
                             f"case `{block.name}` has no expectation: it could never fail",
                             'add at least one `expect` line, e.g. expect text contains "..."')
        if ctx.uses_trace and not tool_steps:
            self.diags.error(block.name_span or block.span, "`expect calls ... trace` checks "
                             "executed tools, but this case does not execute them",
                             "set `tool_steps = 5` (and `tools = [...]`) to run the tools")
        for spec in checks:
            for c in spec.walk():
                if c.kind == "pairwise":
                    names = c.params.get("models") or models
                    if len(names) < 2:
                        self.diags.error(block.name_span or block.span,
                                         "`expect pairwise` needs the case to run on at least "
                                         "two models", "declare two models, or set `models`")
                    missing = [m for m in names if m not in models]
                    if missing:
                        self.diags.error(block.name_span or block.span,
                                         f"pairwise names {', '.join(missing)}, which this case "
                                         "does not run on")
                if c.kind in ("judge", "pairwise"):
                    rubric = self.result.rubrics.get(c.params["rubric"])
                    if rubric is not None and not (rubric.judge or self.result.judge):
                        self.diags.error(_span_of(c.location, block.span),
                                         f"no judge for rubric `{rubric.id}`",
                                         "set `judge = MODEL` at the top of the file or in the "
                                         "rubric")
        tags = [*suite.tags, *(a.str_list("tags") or [])]
        id_template = a.str("id")
        if id_template is not None:
            template_strings.append((id_template, a.node("id").span))  # type: ignore[union-attr]
        self.result.cases.append(CaseTemplate(
            name=block.name, title=block.title.value if block.title else "",
            suite=suite.name, span=block.name_span or block.span, tags=list(dict.fromkeys(tags)),
            messages=messages, params=params, samples=samples or 1, models=list(models),
            checks=checks, tools=tools, tool_mode=tool_mode or "native",
            tool_steps=tool_steps or 0, response_schema=response_schema, reference=reference,
            vars=vars_, rows=rows, rows_span=rows_span, id_template=id_template,
            template_strings=template_strings))

    def _messages(self, scope: _Scope, a: Attrs, system_from: Attrs | None,
                  template_strings: list[tuple[str, Span]],
                  block: n.Block) -> list[tuple[str, str, Span]]:
        out: list[tuple[str, str, Span]] = []
        if system_from is not None:
            text = self._text_value(scope, system_from, "system")
            if text is not None:
                out.append(("system", *text))
        if "messages" in a and "prompt" in a:
            self.diags.error(a.span("messages"), "give either `prompt` or `messages`, not both")
        if "prompt" in a:
            text = self._text_value(scope, a, "prompt")
            if text is not None:
                out.append(("user", *text))
        elif "messages" in a:
            node = a.node("messages")
            if not isinstance(node, n.ListV):
                self.diags.error(node.span, '`messages` is a list such as [user("..."), '  # type: ignore[union-attr]
                                 'assistant("..."), user("...")]')
            else:
                for item in node.items:
                    if (isinstance(item, n.Call) and item.name in ("system", "user", "assistant")
                            and len(item.args) == 1 and isinstance(item.args[0].value, n.Str)):
                        arg = item.args[0].value
                        out.append((item.name, arg.value, arg.span))
                    elif isinstance(item, n.Call) and item.name in ("system", "user", "assistant") \
                            and len(item.args) == 1 and isinstance(item.args[0].value, n.Call) \
                            and item.args[0].value.name == "file":
                        found = file_argument(item.args[0].value, self.diags,
                                              scope.loaded.source.path.parent)
                        if found:
                            out.append((item.name, found[1], item.args[0].value.span))
                    else:
                        hint = did_you_mean(item.name, ("system", "user", "assistant")) \
                            if isinstance(item, n.Call) else None
                        self.diags.error(item.span, 'each message is system("..."), user("...") '
                                         'or assistant("...")', hint)
        else:
            self.diags.error(block.name_span or block.span,
                             f"case `{block.name}` has no prompt",
                             'add prompt = "..." or messages = [user("...")]')
        if out and out[-1][0] == "assistant":
            self.diags.warning(out[-1][2], "the last message is the assistant's: the model "
                               "will continue it")
        template_strings.extend((text, span) for _, text, span in out)
        return out

    def _text_value(self, scope: _Scope, a: Attrs, name: str) -> tuple[str, Span] | None:
        node = a.node(name)
        if isinstance(node, n.Str):
            return node.value, node.span
        if isinstance(node, n.Call) and node.name == "file":
            found = file_argument(node, self.diags, scope.loaded.source.path.parent)
            return (found[1], node.span) if found else None
        if node is not None:
            self.diags.error(node.span, f'`{name}` is a string or file("path"), not '
                             f"{describe(node)}")
        return None

    def _response_schema(self, scope: _Scope, a: Attrs) -> dict[str, Any] | None:
        node = a.node("response_schema")
        schema: Any = None
        if isinstance(node, n.Call) and node.name == "file":
            found = file_argument(node, self.diags, scope.loaded.source.path.parent)
            if found:
                try:
                    schema = json.loads(found[1])
                except json.JSONDecodeError as exc:
                    self.diags.error(node.span, f"not valid JSON: {exc.msg} (line {exc.lineno})")
        else:
            schema = a.literal("response_schema")
        if schema is None:
            return None
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            self.diags.error(a.span("response_schema"), f"invalid JSON Schema: {exc.message}")
            return None
        return schema

    def _rows(self, scope: _Scope, a: Attrs) -> tuple[list[dict[str, Any]] | None, Span | None]:
        node = a.node("rows")
        if node is None:
            return None, None
        if isinstance(node, n.Call) and node.name == "table":
            return self._table(node), node.span
        if isinstance(node, n.Call) and node.name == "file":
            found = file_argument(node, self.diags, scope.loaded.source.path.parent)
            if found is None:
                return [], node.span
            return self._rows_file(found[0], found[1], node.span), node.span
        if isinstance(node, n.ListV):
            rows = a.literal("rows")
            if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
                return rows, node.span
        self.diags.error(node.span, '`rows` is table([...header...], [...], ...), '
                         'file("data.csv" or "data.jsonl") or a list of objects')
        return [], node.span

    def _table(self, call: n.Call) -> list[dict[str, Any]]:
        if not call.args or any(x.name for x in call.args):
            self.diags.error(call.span, 'table(["col", ...], [value, ...], ...) takes a header '
                             "row and data rows")
            return []
        try:
            rows = [literal(x.value, self.diags) for x in call.args]
        except Invalid:
            return []
        header = rows[0]
        if not isinstance(header, list) or not all(isinstance(h, str) for h in header):
            self.diags.error(call.args[0].span, "the first row of a table names its columns")
            return []
        out = []
        for arg, row in zip(call.args[1:], rows[1:], strict=True):
            if not isinstance(row, list) or len(row) != len(header):
                count = len(row) if isinstance(row, list) else 1
                self.diags.error(arg.span, f"this row has {count} value(s); the header has "
                                 f"{len(header)}")
                continue
            out.append(dict(zip(header, row, strict=True)))
        if not out:
            self.diags.error(call.span, "the table has no data rows")
        return out

    def _rows_file(self, path: Path, text: str, span: Span) -> list[dict[str, Any]]:
        if path.suffix == ".csv":
            reader = csv.DictReader(io.StringIO(text))
            rows = [dict(r) for r in reader]
            if not rows:
                self.diags.error(span, f"`{path.name}` has no data rows")
            return rows
        if path.suffix in (".jsonl", ".ndjson"):
            rows = []
            for number, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    self.diags.error(span, f"`{path.name}` line {number}: {exc.msg} "
                                     f"(column {exc.colno})")
                    continue
                if not isinstance(row, dict):
                    self.diags.error(span, f"`{path.name}` line {number} is not an object")
                    continue
                rows.append(row)
            return rows
        self.diags.error(span, f"`{path.name}`: rows come from .csv or .jsonl files")
        return []


@dataclass
class _SuiteDefaults:
    name: str
    tags: list[str]
    attrs: Attrs | None
    models: list[str]


_ANNOTATIONS = {"int": "integer", "float": "number", "str": "string", "bool": "boolean",
                "list": "array", "dict": "object"}


def _signature_schema(source: str, function: str) -> tuple[dict[str, Any], str | None]:
    tree = ast.parse(source)
    fn = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == function)
    args = fn.args.args
    defaults = [None] * (len(args) - len(fn.args.defaults)) + list(fn.args.defaults)
    props: dict[str, Any] = {}
    required: list[str] = []
    for arg, default in zip(args, defaults, strict=True):
        prop: dict[str, Any] = {}
        ann = arg.annotation
        base = ann.value if isinstance(ann, ast.Subscript) else ann
        if isinstance(base, ast.Name) and base.id in _ANNOTATIONS:
            prop["type"] = _ANNOTATIONS[base.id]
            if isinstance(ann, ast.Subscript) and base.id == "list" \
                    and isinstance(ann.slice, ast.Name) and ann.slice.id in _ANNOTATIONS:
                prop["items"] = {"type": _ANNOTATIONS[ann.slice.id]}
        if default is None:
            required.append(arg.arg)
        elif isinstance(default, ast.Constant):
            prop["default"] = default.value
        props[arg.arg] = prop
    doc = ast.get_docstring(fn)
    return ({"type": "object", "properties": props, "required": required},
            doc.strip().splitlines()[0] if doc else None)


def _span_of(location: str, fallback: Span) -> Span:
    try:
        file, line, col = location.rsplit(":", 2)
        return Span.point(file, int(line), int(col))
    except ValueError:
        return fallback


def _with_hash(spec: RubricSpec) -> RubricSpec:
    from dataclasses import replace
    return replace(spec, content_hash=content_hash(spec.hash_payload()))


def analyse(entry: LoadedModule, diags: Diagnostics) -> Analysis:
    return Analyzer(entry, diags).run()
