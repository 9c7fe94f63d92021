"""The `code` check: pull the program out of the answer and run it in the sandbox.

Modes (CheckSpec.params["mode"]):
- `tests`: the spec's test code runs after the solution in one namespace (HumanEval style);
  a `check(candidate)` the tests define but never call is called with the entry point.
- `io`: stdin in, stdout compared with the expected text (trailing whitespace ignored).
- `pytest`: the solution becomes solution.py and the spec's pytest file runs against it.
- `runs`: an interactive program must run `duration_s` seconds without crashing; with a
  display (pygame, curses) the probe in harness/interact.py presses `events` and checks that
  the screen answers them.

A missing block or code that does not parse is a `fail`; a sandbox that cannot run is an
`error`: the model is not to blame for the machine.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
import secrets
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..extract.codeblocks import PYTHON_TAGS, Selection, find_blocks, select_block
from ..outcome import CheckResult, errored, failed, passed
from ..plan import CaseSpec, CheckSpec
from ..response import ModelResponse
from ..sandbox import Limits, SandboxError, SandboxResult, harness_source, run_python
from .base import CheckContext, register

KIND = "code"
_MODES = ("tests", "io", "pytest", "runs")
_DISPLAYS = ("none", "pygame", "curses")
_EVIDENCE_TEXT = 2000


@dataclass(frozen=True, slots=True)
class CodeParams:
    """The check's parameters with defaults filled in, whatever the plan left out."""

    language: str = "python"
    block: str = "auto"
    mode: str = "runs"
    tests: str | None = None
    stdin: str | None = None
    stdout: str | None = None
    pytest: str | None = None
    duration_s: float = 3.0
    display: str = "none"
    events: tuple[str, ...] = ()
    probe: str | None = None
    timeout_s: float = 10.0
    memory_mb: int = 512
    requirements: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, p: Mapping[str, Any]) -> CodeParams:
        mode = p.get("mode") or ("tests" if p.get("tests") else "pytest" if p.get("pytest")
                                 else "io" if p.get("stdout") is not None else "runs")
        return cls(
            language=str(p.get("language") or "python").lower(),
            block=str(p.get("block") or "auto"), mode=mode, tests=p.get("tests"),
            stdin=p.get("stdin"), stdout=p.get("stdout"), pytest=p.get("pytest"),
            duration_s=float(p.get("duration_s") or 3.0),
            display=str(p.get("display") or "none"),
            events=tuple(p.get("events") or ()), probe=p.get("probe"),
            timeout_s=float(p.get("timeout_s") or 10.0),
            memory_mb=int(p.get("memory_mb") or 512),
            requirements=tuple(p.get("requirements") or ()))

    @property
    def limits(self) -> Limits:
        return Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)


@register(KIND)
async def check_code(spec: CheckSpec, case: CaseSpec, response: ModelResponse,
                     ctx: CheckContext) -> CheckResult:
    p = CodeParams.from_params(spec.params)
    if p.language not in PYTHON_TAGS:
        return errored(KIND, f"only Python code can be run, not {p.language!r}")
    if p.mode not in _MODES:
        return errored(KIND, f"unknown code mode {p.mode!r}; expected one of {', '.join(_MODES)}")
    if p.display not in _DISPLAYS:
        return errored(KIND, f"unknown display {p.display!r}; expected one of "
                       + ", ".join(_DISPLAYS))
    text = response.text or ""
    sel = select_block(text, p.language, p.block)
    if sel is None:
        return _no_block(text, p)
    base: dict[str, Any] = {"mode": p.mode, "block": sel.evidence()}
    syntax = syntax_error(sel.code)
    if syntax is not None:
        reason, facts = syntax
        return failed(KIND, reason, **base, syntax_error=facts)
    missing = missing_requirements(p.requirements)
    if missing:
        return errored(KIND, "not installed for the sandbox's Python: " + ", ".join(missing)
                       + "; install it to run this check", **base)
    try:
        return await _RUNNERS[p.mode](p, sel, case, base)
    except SandboxError as exc:
        return errored(KIND, f"the sandbox failed: {exc}", **base)


def _no_block(text: str, p: CodeParams) -> CheckResult:
    blocks = [b.describe() for b in find_blocks(text)]
    if p.block not in ("auto", "largest"):
        what = "named" if "." in p.block or "/" in p.block else "tagged"
        return failed(KIND, f"no code block {what} {p.block!r} found"
                      + (f" (the answer has: {'; '.join(blocks)})" if blocks else ""),
                      blocks=blocks)
    return failed(KIND, f"no {p.language} code block found", blocks=blocks)


def syntax_error(code: str) -> tuple[str, dict[str, Any]] | None:
    """Compile without running: a syntax error is reported with its line, as Python would."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "solution.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        where = f"line {exc.lineno}" if exc.lineno else "somewhere"
        shown = f": {line.strip()[:120]}" if line.strip() else ""
        return (f"the code does not parse: {exc.msg} at {where}{shown}",
                {"message": exc.msg, "line": exc.lineno, "offset": exc.offset, "text": line})
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return (f"the code does not compile: {type(exc).__name__}: {exc}",
                {"message": str(exc)})
    return None


def missing_requirements(requirements: Sequence[str]) -> list[str]:
    missing = []
    for req in requirements:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if not m:
            continue
        try:
            importlib.metadata.distribution(m.group(1))
        except importlib.metadata.PackageNotFoundError:
            missing.append(m.group(1))
    return missing


def _solution_files(sel: Selection) -> dict[str, str]:
    """solution.py, and the file name the answer gave the block, so imports of either work.

    Not when that name would shadow a module the harness or the tests import (a block named
    json.py, pytest.py or tests.py)."""
    files = {"solution.py": sel.code}
    name = sel.block.name if sel.block else None
    if name and re.fullmatch(r"[A-Za-z_]\w*\.py", name):
        module = name[:-3]
        reserved = module in _RESERVED or module in sys.stdlib_module_names
        if not reserved and importlib.util.find_spec(module) is None:
            files[name] = sel.code
    return files


_RESERVED = {"solution", "tests", "test_solution", "run_tests", "interact", "run_pytest",
             "probe", "main"}


# --- reading a failed run --------------------------------------------------------------------

_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (.+))?$')
_HARNESS_FILES = ("run_tests.py", "interact.py", "run_pytest.py")


def _is_program_file(path: str) -> bool:
    """The program's or the tests' own files, not the stdlib, site-packages or our harness."""
    return not (path.startswith("<") or "site-packages" in path
                or re.search(r"/lib/python\d", path) is not None
                or path.rsplit("/", 1)[-1] in _HARNESS_FILES)


def failure_summary(result: SandboxResult, limits: Limits) -> str:
    """One line on why a run did not succeed: the exception and the line that raised it."""
    if result.timed_out:
        where = _last_frame(result.stderr)
        return f"timed out after {limits.timeout_s:g} s" + (f" (stuck at {where})" if where
                                                            else "")
    if result.memory_exceeded:
        return f"ran out of memory (limit {limits.memory_mb} MB)"
    if result.cpu_exceeded:
        return "used up its CPU time"
    if result.stderr.strip():
        return describe_traceback(result.stderr)
    if result.signal:
        return f"killed by {result.signal}"
    return f"exited with code {result.exit_code}"


def describe_traceback(stderr: str) -> str:
    """`ZeroDivisionError: division by zero at solution.py line 3: x = 1 / 0`."""
    exc = _exception_line(stderr)
    where = _last_frame(stderr)
    return exc + (f" at {where}" if where else "")


def _exception_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)?\b(:|$)", ln) \
                and not ln.startswith(" "):
            return ln.strip()[:300]
    return lines[-1].strip()[:300] if lines else ""


def _last_frame(stderr: str) -> str:
    """`tests.py line 7: assert candidate(2) == 4`, from the innermost frame in our files."""
    lines = stderr.splitlines()
    found = ""
    for i, ln in enumerate(lines):
        m = _FRAME.match(ln)
        if not m or not _is_program_file(m.group(1)):
            continue
        code = lines[i + 1].strip() if i + 1 < len(lines) and not _FRAME.match(
            lines[i + 1]) else ""
        found = f"{m.group(1).rsplit('/', 1)[-1]} line {m.group(2)}" + (
            f": {code[:160]}" if code else "")
    return found


def _run_evidence(result: SandboxResult) -> dict[str, Any]:
    return result.evidence(_EVIDENCE_TEXT)


# --- modes -----------------------------------------------------------------------------------

async def _run_tests(p: CodeParams, sel: Selection, case: CaseSpec,
                     base: dict[str, Any]) -> CheckResult:
    if not p.tests:
        return errored(KIND, "mode 'tests' needs test code", **base)
    try:
        plan = _test_plan(p.tests, sel.code, case)
    except ValueError as exc:
        return errored(KIND, str(exc), **base)
    flags, ran = plan
    result = await run_python(
        harness_source("run_tests.py"),
        files={**_solution_files(sel), "tests.py": p.tests},
        args=["solution.py", "tests.py", *flags], limits=p.limits, filename="run_tests.py")
    evidence = {**base, "ran": ran, "run": _run_evidence(result)}
    if result.ok:
        return passed(KIND, f"the tests passed ({ran})", **evidence)
    return failed(KIND, "the tests failed: " + failure_summary(result, p.limits), **evidence)


_ENTRY_COMMENT = re.compile(r"^\s*#\s*entry(?:[ _-]?point)?\s*[:=]\s*([A-Za-z_]\w*)", re.M | re.I)


def _test_plan(tests: str, code: str, case: CaseSpec) -> tuple[list[str], str]:
    """What the tests need called after they load: check(entry), TestCases, test_ functions."""
    try:
        tree = ast.parse(tests)
    except SyntaxError as exc:
        raise ValueError(f"the spec's tests do not parse: {exc.msg} at line {exc.lineno}") from None
    top_defs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    called: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                f = node.func
                called.add(f.id if isinstance(f, ast.Name) else
                           f.attr if isinstance(f, ast.Attribute) else "")
    flags: list[str] = []
    ran: list[str] = []
    if "check" in top_defs and "check" not in called:
        entry = entry_point(tests, code, case)
        if entry is None:
            raise ValueError("the tests define check(candidate) but the entry point is unknown;"
                             " start the tests with '# entry: <function name>'")
        flags += ["--check", entry]
        ran.append(f"check({entry})")
    cases = [n for n in tree.body if isinstance(n, ast.ClassDef) and any(
        (b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "")
        == "TestCase" for b in n.bases)]
    if cases and "main" not in called:
        flags.append("--unittest")
        ran.append("unittest: " + ", ".join(c.name for c in cases))
    test_fns = sorted(n for n in top_defs if n.startswith("test_"))
    if test_fns and not any(n in called for n in test_fns):
        flags.append("--test-functions")
        ran.append(", ".join(test_fns))
    return flags, "; ".join(ran) or "the test code as written"


def entry_point(tests: str, code: str, case: CaseSpec) -> str | None:
    """`# entry: name` in the tests; else the solution's only function; else its only
    function the prompt mentions."""
    m = _ENTRY_COMMENT.search(tests)
    if m:
        return m.group(1)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    fns = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if len(fns) == 1:
        return fns[0]
    prompt = "\n".join(msg.content for msg in case.messages)
    named = [f for f in fns if re.search(rf"\b{re.escape(f)}\s*\(", prompt)]
    return named[0] if len(named) == 1 else None


def normalise_output(text: str) -> str:
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


async def _run_io(p: CodeParams, sel: Selection, case: CaseSpec,
                  base: dict[str, Any]) -> CheckResult:
    files = _solution_files(sel)
    source = files.pop("solution.py")
    result = await run_python(source, stdin=p.stdin or "", files=files, limits=p.limits,
                              filename="solution.py")
    evidence = {**base, "run": _run_evidence(result)}
    if not result.ok:
        return failed(KIND, "the program failed: " + failure_summary(result, p.limits),
                      **evidence)
    if p.stdout is None:
        return passed(KIND, "the program ran without error", **evidence)
    want, got = normalise_output(p.stdout), normalise_output(result.stdout)
    evidence["expected"] = want[:_EVIDENCE_TEXT]
    evidence["actual"] = got[:_EVIDENCE_TEXT]
    if want == got:
        n = want.count("\n") + 1 if want else 0
        return passed(KIND, f"stdout matches the expected output ({n} lines)", **evidence)
    if result.truncated:
        return failed(KIND, "stdout differs: the program printed more than the output cap",
                      **evidence)
    return failed(KIND, "stdout differs " + _first_difference(want, got), **evidence)


def _show(line: str | None) -> str:
    return "nothing" if line is None else repr(line[:120])


def _first_difference(want: str, got: str) -> str:
    w, g = want.split("\n"), got.split("\n")
    for i in range(max(len(w), len(g))):
        a = w[i] if i < len(w) else None
        b = g[i] if i < len(g) else None
        if a != b:
            return f"at line {i + 1}: expected {_show(a)}, got {_show(b)}"
    return ""


_PYTEST_RUNNER = """\
import sys
import pytest
sys.exit(pytest.main(["-q", "-rfE", "--tb=short", "--no-header", "--color=no",
                      "-p", "no:cacheprovider", "-c", "pytest.ini", "test_solution.py"]))
"""
_PYTEST_SUMMARY = re.compile(r"^=*\s*(\d+ (?:failed|passed|error|errors|skipped|xfailed|xpassed|"
                             r"deselected|warnings?)\b.*?)(?: in [\d.]+s.*)?=*$", re.M)


async def _run_pytest(p: CodeParams, sel: Selection, case: CaseSpec,
                      base: dict[str, Any]) -> CheckResult:
    if not p.pytest:
        return errored(KIND, "mode 'pytest' needs a pytest file", **base)
    files = {**_solution_files(sel), "test_solution.py": p.pytest, "pytest.ini": "[pytest]\n"}
    result = await run_python(_PYTEST_RUNNER, files=files, limits=p.limits,
                              filename="run_pytest.py",
                              env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    summaries = _PYTEST_SUMMARY.findall(result.stdout)
    summary = summaries[-1].strip(" =") if summaries else ""
    evidence = {**base, "pytest": summary, "run": _run_evidence(result)}
    if result.timed_out or result.memory_exceeded or result.signal:
        return failed(KIND, "pytest did not finish: " + failure_summary(result, p.limits),
                      **evidence)
    code = result.exit_code
    if code == 0:
        return passed(KIND, f"pytest: {summary or 'all passed'}", **evidence)
    if code in (1, 2):
        # 2 is a collection error, e.g. the solution lacks what the tests import.
        short = [ln for ln in result.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        detail = "; ".join(short[:3]) or _exception_line(result.stdout + "\n" + result.stderr)
        return failed(KIND, f"pytest: {summary or 'failed'}" + (f": {detail}" if detail else ""),
                      **evidence)
    if code == 5:
        return errored(KIND, "the spec's pytest file collected no tests", **evidence)
    return errored(KIND, f"pytest could not run (exit code {code}): "
                   + _exception_line(result.stdout + "\n" + result.stderr), **evidence)


async def _run_interactive(p: CodeParams, sel: Selection, case: CaseSpec,
                           base: dict[str, Any]) -> CheckResult:
    token = secrets.token_hex(8)
    report_name = f".interact-{token}.json"
    cfg = {"solution": "solution.py", "display": p.display, "duration": p.duration_s,
           "events": list(p.events), "probe": "probe.py" if p.probe else None,
           "report": report_name}
    files = {**_solution_files(sel), "interact.json": json.dumps(cfg)}
    if p.probe:
        files["probe.py"] = p.probe
    # The probe stops the program itself at duration_s; the sandbox's timeout only catches a
    # program that holds on so hard the probe cannot (a C call that never releases the GIL).
    limits = Limits(timeout_s=max(p.timeout_s, p.duration_s + 2), memory_mb=p.memory_mb)
    result = await run_python(harness_source("interact.py"), files=files, args=["interact.json"],
                              limits=limits, filename="interact.py", collect=[report_name])
    raw = result.files.get(report_name)
    evidence: dict[str, Any] = {**base, "display": p.display, "duration_s": p.duration_s,
                                "run": _run_evidence(result)}
    if raw is None or result.timed_out:
        return _no_report(result, limits, evidence)
    try:
        report = json.loads(raw)
    except ValueError:
        return errored(KIND, "the probe's report could not be read", **evidence)
    evidence["observed"] = report
    return interpret_report(report, p, evidence)


def _no_report(result: SandboxResult, limits: Limits, evidence: dict[str, Any]) -> CheckResult:
    if result.timed_out:
        return failed(KIND, "the program hung: it neither finished nor let the probe stop it "
                      f"within {limits.timeout_s:g} s", **evidence)
    if result.signal or result.memory_exceeded or result.cpu_exceeded:
        return failed(KIND, "the program " + failure_summary(result, limits), **evidence)
    return errored(KIND, "the probe wrote no report ("
                   + failure_summary(result, limits) + ")", **evidence)


def interpret_report(report: Mapping[str, Any], p: CodeParams,
                     evidence: dict[str, Any]) -> CheckResult:
    """Turn what the probe observed into a verdict and one sentence a person can check."""
    if report.get("harness_error"):
        return errored(KIND, str(report["harness_error"]), **evidence)
    outcome = report.get("outcome")
    elapsed = report.get("elapsed") or 0.0
    if outcome == "crashed":
        tb = str(report.get("traceback") or "")
        return failed(KIND, f"crashed after {elapsed:.1f} s: {describe_traceback(tb)}",
                      **evidence)
    if outcome in ("exited", "returned"):
        code = report.get("exit_code")
        if p.display == "none" and code in (0, None):
            return passed(KIND, f"finished after {elapsed:.1f} s without error", **evidence)
        return failed(KIND, f"exited after {elapsed:.1f} s (exit code {code}) before the "
                      f"{p.duration_s:g} s were up", **evidence)
    if outcome == "hung":
        return failed(KIND, f"the program hung: it held the interpreter so long that the probe "
                      f"could stop it only {report.get('late_s')} s late", **evidence)
    if outcome != "survived":
        return errored(KIND, f"the probe ended oddly: {outcome!r}", **evidence)
    ran = f"ran {p.duration_s:g} s without crashing"
    if p.display == "pygame":
        frames = report.get("frames") or 0
        if not frames:
            return failed(KIND, f"{ran} but never drew a frame "
                          "(no pygame.display.flip or update)", **evidence)
        ran += f" ({frames} frames)"
    elif p.display == "curses":
        if not report.get("output_bytes"):
            return failed(KIND, f"{ran} but never drew anything on the terminal", **evidence)
    probe = report.get("probe")
    if probe and not probe.get("ok"):
        return failed(KIND, f"{ran} but the probe failed: {probe.get('error')}", **evidence)
    keys: Mapping[str, Any] = report.get("keys") or {}
    if p.events and p.display != "none":
        deaf = [k for k in p.events if not (keys.get(k) or {}).get("responded")]
        if deaf:
            first = (keys.get(deaf[0]) or {}).get("why", "never pressed")
            more = "; the other keys likewise, see the evidence" if len(deaf) > 1 else ""
            return failed(KIND, f"{ran} but the screen did not respond to "
                          f"{', '.join(deaf)} ({deaf[0]}: {first}{more})", **evidence)
        return passed(KIND, f"{ran}; the screen responded to {', '.join(p.events)}", **evidence)
    return passed(KIND, ran, **evidence)


_RUNNERS = {"tests": _run_tests, "io": _run_io, "pytest": _run_pytest, "runs": _run_interactive}
