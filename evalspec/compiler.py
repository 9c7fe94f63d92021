"""Analysis -> Plan: data rows expanded, templates rendered, hashes computed.

The only module that sees both the analysed spec and the plan. `compile_paths` is the front
end's public entry point: files or folders in, plans and diagnostics out.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import templates
from .analysis import Analysis, CaseTemplate, analyse
from .diagnostics import Diagnostic, Diagnostics, did_you_mean
from .loader import Loader
from .plan import CaseSpec, CheckSpec, Message, Plan, content_hash
from .source import SourceFile, Span


@dataclass
class CompileResult:
    plans: list[Plan] = field(default_factory=list)
    entries: list[Path] = field(default_factory=list)
    """For each plan, the .eval file it came from."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    files_checked: int = 0

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def find_spec_files(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Expand folders to the .eval files below them. Returns the files and the paths not found."""
    files: list[Path] = []
    missing: list[str] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.eval") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(str(path))
    return list(dict.fromkeys(files)), missing


def compile_paths(paths: Sequence[Path | str]) -> CompileResult:
    files, missing = find_spec_files(Path(p) for p in paths)
    if missing:
        raise FileNotFoundError(", ".join(missing))
    return compile_files(files)


def compile_files(files: Sequence[Path]) -> CompileResult:
    # The compile allocates many small objects that all live until the plan is written;
    # the cyclic GC's repeated full scans of them cost more than the compile itself.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile_files(files)
    finally:
        if enabled:
            gc.enable()


def _compile_files(files: Sequence[Path]) -> CompileResult:
    result = CompileResult()
    diags = Diagnostics()
    loader = Loader(diags)
    for path in files:
        entry = loader.load_entry(path)
        result.files_checked += 1
        if entry is None:
            continue
        file_diags = Diagnostics()
        analysis = analyse(entry, file_diags)
        check_templates(analysis, file_diags)
        plan = None
        if not file_diags.errors and analysis.cases:
            plan = build_plan(analysis, file_diags)
        diags.extend(file_diags.items)
        if plan is not None and not file_diags.errors:
            result.plans.append(plan)
            result.entries.append(path)
    result.diagnostics = Diagnostics(diags.items).sorted()
    result.sources = loader.sources
    return result


def compile_source(text: str, path: Path) -> CompileResult:
    """Compile text as if it were the file at `path` (which need not exist); for tests and tools."""
    diags = Diagnostics()
    loader = Loader(diags)
    source = SourceFile(path.resolve(), str(path), text)
    from .loader import LoadedModule
    from .parser import parse
    module, errors = parse(source)
    loader.sources[source.display] = source
    result = CompileResult(sources=loader.sources, files_checked=1)
    if module is None:
        result.diagnostics = errors
        return result
    entry = LoadedModule(source.display, path.stem, source, module)
    loader._stack.append(source.display)
    for stmt in module.statements:
        from . import nodes as n
        if isinstance(stmt, n.Import):
            target = loader._resolve(stmt, path.resolve())
            if target is not None:
                child = loader._load(*target, stmt)
                if child is not None:
                    entry.imports.append((stmt, child))
    analysis = analyse(entry, diags)
    check_templates(analysis, diags)
    if not diags.errors and analysis.cases:
        plan = build_plan(analysis, diags)
        if not diags.errors:
            result.plans.append(plan)
            result.entries.append(path)
    result.diagnostics = diags.sorted()
    return result


def build_plan(analysis: Analysis, diags: Diagnostics) -> Plan:
    cases: list[CaseSpec] = []
    seen: dict[str, Span] = {}
    # Each tool (with its inlined source) is hashed once, not once per case that uses it.
    tool_hashes = {name: content_hash(t.to_json()) for name, t in analysis.tools.items()}
    for template in analysis.cases:
        for case in _expand(template, diags):
            if case.id in seen:
                diags.error(template.span, f"two cases get the id `{case.id}`",
                            "give data-driven cases an `id` template that differs per row")
                continue
            seen[case.id] = template.span
            cases.append(_hashed(case, analysis, tool_hashes))
    plan = Plan(source=analysis.entry.key, models=analysis.models, judge=analysis.judge,
                rubrics=analysis.rubrics, tools=analysis.tools, cases=tuple(cases),
                judge_templates=_project_templates(analysis, diags))
    _lint(plan, diags)
    # Case hashes already cover everything in a case, so the plan hash is built from them
    # rather than from the whole plan's JSON again.
    payload = {
        "schema_version": plan.schema_version, "source": plan.source, "judge": plan.judge,
        "models": {k: v.to_json() for k, v in sorted(plan.models.items())},
        "rubrics": {k: v.content_hash for k, v in sorted(plan.rubrics.items())},
        "tools": tool_hashes, "judge_templates": dict(plan.judge_templates),
        "cases": [(c.id, c.hash, c.location) for c in plan.cases],
    }
    return replace(plan, hash=content_hash(payload))


def _project_templates(analysis: Analysis, diags: Diagnostics) -> dict[str, str]:
    try:
        from .judge.prompt import (
            PROJECT_TEMPLATE_DIR,
            load_project_templates,
            unknown_project_templates,
            validate_template,
        )
    except ImportError:
        return {}
    folder = analysis.entry.source.path.parent
    where = Span.point(analysis.entry.key, 1, 1)
    for name in unknown_project_templates(folder):
        diags.warning(where, f"{PROJECT_TEMPLATE_DIR}/{name} is not a judge template evalspec "
                      "uses; it is ignored")
    found = load_project_templates(folder)
    for name, text in sorted(found.items()):
        mode = "pairwise" if name.startswith("pairwise") else "single"
        for problem in validate_template(text, mode):
            diags.error(where, f"{PROJECT_TEMPLATE_DIR}/{name}.j2: {problem}")
    for rubric in analysis.rubrics.values():
        if rubric.template:
            file, _, line = rubric.origin.rpartition(":")
            for problem in validate_template(rubric.template, "single"):
                diags.error(Span.point(file, int(line) if line.isdigit() else 1, 1),
                            f"rubric `{rubric.id}` template: {problem}")
    return found


def _lint(plan: Plan, diags: Diagnostics) -> None:
    try:
        from .judge.lints import judge_lints
    except ImportError:  # the judge package is optional for the front end
        return
    for location, message in judge_lints(plan):
        file, _, rest = location.rpartition(":")
        file, _, line = file.rpartition(":")
        try:
            span = Span.point(file, int(line), int(rest))
        except ValueError:
            span = Span.point(plan.source, 1, 1)
        diags.warning(span, message)


def _hashed(case: CaseSpec, analysis: Analysis, tool_hashes: dict[str, str]) -> CaseSpec:
    payload = case.content()
    rubrics: set[str] = set()
    tool_names = set(case.tools)
    for spec in case.checks:
        for c in spec.walk():
            if "rubric" in c.params:
                rubrics.add(c.params["rubric"])
            if c.kind == "calls":
                tool_names.update(call["name"] for call in c.params["calls"])
    payload["rubrics"] = {r: analysis.rubrics[r].content_hash for r in sorted(rubrics)}
    payload["tool_specs"] = {t: tool_hashes[t] for t in sorted(tool_names) if t in tool_hashes}
    # The case was built a moment ago and is not shared yet: set its hash in place rather
    # than copying every field with dataclasses.replace.
    object.__setattr__(case, "hash", content_hash(payload))
    return case


def check_templates(analysis: Analysis, diags: Diagnostics) -> None:
    """Every template must parse and use only variables the case defines (vars, row columns).

    Runs even when the analysis found other errors, so that they are all reported at once.
    """
    for t in analysis.cases:
        available = set(t.vars)
        if t.rows is not None:
            keys = [set(r) for r in t.rows]
            available |= set.intersection(*keys) if keys else set()
        for text, span in t.template_strings:
            try:
                needed = templates.variables(text)
            except templates.TemplateProblem as exc:
                diags.error(_inner_span(span, exc.lineno), f"template error: {exc.message}")
                continue
            for name in sorted(needed - available):
                hint = did_you_mean(name, available) or (
                    "variables here: " + ", ".join(sorted(available)) if available else
                    "set it with `vars = {...}` or a `rows` column")
                diags.error(span, f"unknown template variable `{name}`", hint)


def _expand(t: CaseTemplate, diags: Diagnostics) -> Iterable[CaseSpec]:
    rows = t.rows if t.rows is not None else [{}]
    for index, row in enumerate(rows, 1):
        values = {**t.vars, **row}
        try:
            yield _render_case(t, index if t.rows is not None else None, values)
        except templates.TemplateProblem as exc:
            where = f"row {index}: " if t.rows is not None else ""
            diags.error(t.rows_span or t.span, f"{where}{exc.message}")
        except _BadValue as exc:
            where = f"row {index}: " if t.rows is not None else ""
            diags.error(t.rows_span or t.span, f"{where}{exc}")


class _BadValue(Exception):
    pass


def _render_case(t: CaseTemplate, row: int | None, values: dict[str, Any]) -> CaseSpec:
    render = templates.render
    if t.id_template is not None:
        name = render(t.id_template, values)
    elif row is not None:
        name = f"{t.name}#{row}"
    else:
        name = t.name
    if t.rows is None and not any(templates.is_template(x) for x, _ in t.template_strings):
        # Nothing in this case is a template (every templated string is listed there), so
        # it compiles as written: most cases of most specs.
        messages = tuple(Message(role, text) for role, text, _ in t.messages)
        checks = tuple(t.checks)
    else:
        messages = tuple(Message(role, render(text, values)) for role, text, _ in t.messages)
        checks = tuple(_render_check(c, values) for c in t.checks)
    reference = render(t.reference, values) if t.reference else None
    return CaseSpec(
        id=f"{t.suite}/{name}", suite=t.suite, title=t.title, tags=tuple(t.tags),
        messages=messages, params=t.params, samples=t.samples, models=tuple(t.models),
        checks=checks, tools=tuple(t.tools), tool_mode=t.tool_mode, tool_steps=t.tool_steps,
        response_schema=t.response_schema, reference=reference,
        location=f"{t.span.file}:{t.span.line}:{t.span.col}",
        vars=values)


def _render_value(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return templates.render(value, values) if templates.is_template(value) else value
    if isinstance(value, list):
        return [_render_value(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _render_value(v, values) for k, v in value.items()}
    return value


def _as_number(value: Any, what: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        raise _BadValue(f"{what} must be a number, but the template gave {value!r}") from None


def _scalar(value: Any, original: Any) -> Any:
    """A template that rendered a number-looking string in a typed position becomes a number."""
    if isinstance(original, str) and templates.is_template(original) and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _render_check(spec: CheckSpec, values: dict[str, Any]) -> CheckSpec:
    if not values and not spec.children and not _has_template(spec.params) \
            and spec.kind not in ("number", "calls", "choice"):
        return spec  # nothing to render: most expectations of most specs
    # Code is never a template: its braces are Python's (f-strings, dicts, sets).
    if spec.kind == "code" or (not values and not _has_template(spec.params)):
        params = dict(spec.params)
    else:
        params = {k: (v if k == "schema" else _render_value(v, values))
                  for k, v in spec.params.items()}
    if spec.kind == "number":
        if params["op"] == "in":
            params["values"] = [_as_number(v, "`expect number in`") for v in params["values"]]
        else:
            params["value"] = _as_number(params["value"], f"`{spec.label}`")
    elif spec.kind == "choice" and params["expected"] not in params["options"]:
        raise _BadValue(f"`{spec.label}`: the expected option {params['expected']!r} is not "
                        f"one of {params['options']}")
    elif spec.kind == "calls":
        originals = spec.params["calls"]
        params["calls"] = [
            {"name": c["name"], "args": {k: [_scalar(v, o) for v, o in zip(vs, orig["args"][k],
                                                                           strict=True)]
                                         for k, vs in c["args"].items()}}
            for c, orig in zip(params["calls"], originals, strict=True)]
    children = tuple(_render_check(c, values) for c in spec.children)
    return CheckSpec(spec.kind, params, spec.label, spec.location, children)


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return templates.is_template(value)
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    return False


def _inner_span(span: Span, lineno: int | None) -> Span:
    if not lineno or lineno <= 1:
        return span
    return Span.point(span.file, span.line + lineno - 1, 1)


def plan_filename(entry: Path, roots: Sequence[Path]) -> str:
    """Where a plan goes under the output folder: mirrors the spec's place under its root."""
    resolved = entry.resolve()
    for root in roots:
        root = root.resolve()
        if root.is_dir() and resolved.is_relative_to(root):
            rel = resolved.relative_to(root)
            return str(rel.with_suffix("")) + ".plan.json"
    return entry.stem + ".plan.json"
