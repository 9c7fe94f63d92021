"""The interface every check implements, and the dispatcher the runner calls.

A check is an async callable `(spec, case, response, ctx) -> CheckResult`. It never raises
into the runner: `run_check` turns any exception into an `error` result with the reason.
Model output of any shape (empty, huge, malicious) is a normal input.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from ..outcome import CheckResult, Status
from ..plan import CaseSpec, CheckSpec, Message, Plan
from ..response import ModelResponse


class CheckContext(Protocol):
    """What the runner lends a check: the plan, and model calls that go through the same
    limits, cache and store as the models under test."""

    plan: Plan
    model: str
    """The model under test that produced the response."""
    sample: int

    async def generate(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        params: Mapping[str, Any] | None = None,
        response_schema: Mapping[str, Any] | None = None,
        purpose: str = "judge",
        key: str = "",
    ) -> ModelResponse:
        """Call `model`. `purpose` and `key` label the call in the store; `key` also keeps
        otherwise identical calls (judge samples) apart in the cache."""
        ...


CheckFn = Callable[[CheckSpec, CaseSpec, ModelResponse, CheckContext], Awaitable[CheckResult]]

_REGISTRY: dict[str, CheckFn] = {}
# Check modules register themselves on import; importing lazily keeps `evalspec compile` light.
_MODULES = {
    "number": "numbers", "choice": "numbers", "text": "text", "json": "jsoncheck",
    "code": "code", "calls": "tools", "judge": "judge",
}


def register(kind: str) -> Callable[[CheckFn], CheckFn]:
    def deco(fn: CheckFn) -> CheckFn:
        _REGISTRY[kind] = fn
        return fn
    return deco


def sync_check(kind: str):
    """Register a pure function `(spec, case, response) -> CheckResult` as a check."""
    def deco(fn: Callable[[CheckSpec, CaseSpec, ModelResponse], CheckResult]):
        async def run(spec: CheckSpec, case: CaseSpec, response: ModelResponse,
                      ctx: CheckContext) -> CheckResult:
            return fn(spec, case, response)
        _REGISTRY[kind] = run
        return fn
    return deco


def lookup(kind: str) -> CheckFn:
    if kind not in _REGISTRY and kind in _MODULES:
        importlib.import_module(f"{__package__}.{_MODULES[kind]}")
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise LookupError(f"no check of kind {kind!r} is installed") from None


async def run_check(spec: CheckSpec, case: CaseSpec, response: ModelResponse,
                    ctx: CheckContext) -> CheckResult:
    try:
        if spec.kind in ("all", "any", "not"):
            children = [await run_check(c, case, response, ctx) for c in spec.children]
            result = _combine(spec, children)
        else:
            result = await lookup(spec.kind)(spec, case, response, ctx)
    except Exception as exc:  # a check must never take the run down
        tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        result = CheckResult(spec.kind, Status.ERROR, f"the check itself failed: {tail}",
                             {"exception": tail})
    if not result.label:
        result = CheckResult(result.kind, result.status, result.reason, result.evidence,
                             spec.label, result.score, result.children)
    return result


def _combine(spec: CheckSpec, children: list[CheckResult]) -> CheckResult:
    statuses = [c.status for c in children]
    if spec.kind == "not":
        (child,) = children
        if child.status is Status.PASS:
            return CheckResult("not", Status.FAIL, f"expected not: {child.label} ({child.reason})",
                               {}, spec.label, None, tuple(children))
        if child.status is Status.FAIL:
            return CheckResult("not", Status.PASS, f"as expected, not: {child.reason}",
                               {}, spec.label, None, tuple(children))
        return CheckResult("not", child.status, child.reason, {}, spec.label, None,
                           tuple(children))
    if spec.kind == "all":
        if all(s is Status.PASS for s in statuses):
            return CheckResult("all", Status.PASS, f"all {len(children)} passed", {},
                               spec.label, None, tuple(children))
        worst = next(s for s in (Status.ERROR, Status.UNSCORED, Status.FAIL) if s in statuses)
        bad = [c for c in children if c.status is worst]
        return CheckResult("all", worst, "; ".join(f"{c.label}: {c.reason}" for c in bad), {},
                           spec.label, None, tuple(children))
    # any
    good = [c for c in children if c.status is Status.PASS]
    if good:
        return CheckResult("any", Status.PASS, f"{good[0].label}: {good[0].reason}", {},
                           spec.label, None, tuple(children))
    if Status.FAIL in statuses:
        status = Status.FAIL if all(s is Status.FAIL for s in statuses) else next(
            s for s in (Status.ERROR, Status.UNSCORED) if s in statuses)
    else:
        status = next(s for s in (Status.ERROR, Status.UNSCORED) if s in statuses)
    return CheckResult("any", status, "none passed: " + "; ".join(
        f"{c.label}: {c.reason}" for c in children), {}, spec.label, None, tuple(children))
