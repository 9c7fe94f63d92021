"""Shared fixtures.

- `test_server`: a started `ScriptedServer` (evalspec/testing/server.py) on a free loopback
  port, in its own thread with its own event loop, so sync and async tests can both use it.
  Point models at `test_server.url`.
- `make_case`, `make_model`, `make_plan`: build plans in Python (the functions below).
- `store_dir`: a fresh `.evalspec`-style directory under tmp_path.

The check kind `test_contains` (params {"value": str}) is registered here for tests that need a
check without depending on evalspec/checks/text.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from evalspec.checks import register
from evalspec.outcome import CheckResult, Status
from evalspec.plan import CaseSpec, CheckSpec, Message, ModelSpec, Plan, content_hash
from evalspec.testing.server import ScriptedServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: runs evalspec in a subprocess or the embedded model (seconds); "
        "deselect with -m 'not slow'")


@register("test_contains")
async def _test_contains(spec, case, response, ctx) -> CheckResult:
    value = spec.params["value"]
    if value in response.text:
        return CheckResult("test_contains", Status.PASS, f"found {value!r}")
    return CheckResult("test_contains", Status.FAIL, f"{value!r} is not in the answer",
                       {"text": response.text[:200]})


def contains(value: str) -> CheckSpec:
    """A `test_contains` check."""
    return CheckSpec("test_contains", {"value": value}, f"contains {value!r}")


def make_model(name: str = "m", url: str | None = None, **kw: Any) -> ModelSpec:
    """An OpenAI-compatible model at `url` (the test server's), fast-failing by default."""
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("retries", 2)
    return ModelSpec(name=name, provider="openai", model_id=kw.pop("model_id", f"{name}-id"),
                     base_url=url, **kw)


def make_case(case_id: str, prompt: str, *, checks: Sequence[CheckSpec] = (),
              models: Sequence[str] = ("m",), suite: str | None = None,
              tags: Sequence[str] = (), samples: int = 1, system: str | None = None,
              **kw: Any) -> CaseSpec:
    suite = suite or (case_id.split("/", 1)[0] if "/" in case_id else "suite")
    messages = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
    case = CaseSpec(id=case_id, suite=suite, title=kw.pop("title", case_id), tags=tuple(tags),
                    messages=messages, params=kw.pop("params", {}), samples=samples,
                    models=tuple(models), checks=tuple(checks), **kw)
    return CaseSpec(**{**{f: getattr(case, f) for f in CaseSpec.__slots__},
                       "hash": content_hash(case.to_json())})


def make_plan(cases: Iterable[CaseSpec], models: Iterable[ModelSpec] | Mapping[str, ModelSpec],
              *, judge: str | None = None, rubrics: Mapping[str, Any] | None = None,
              tools: Mapping[str, Any] | None = None, source: str = "test.eval") -> Plan:
    specs = dict(models) if isinstance(models, Mapping) else {m.name: m for m in models}
    plan = Plan(source=source, models=specs, judge=judge, rubrics=dict(rubrics or {}),
                tools=dict(tools or {}), cases=tuple(cases))
    payload = plan.to_json()
    payload.pop("hash")
    return Plan(plan.source, plan.models, plan.judge, plan.rubrics, plan.tools, plan.cases,
                hash=content_hash(payload))


@pytest.fixture
def test_server() -> Iterator[ScriptedServer]:
    with ScriptedServer(default="OK") as server:
        yield server


@pytest.fixture(name="make_case")
def _make_case_fixture():
    return make_case


@pytest.fixture(name="make_model")
def _make_model_fixture():
    return make_model


@pytest.fixture(name="make_plan")
def _make_plan_fixture():
    return make_plan


@pytest.fixture(name="contains")
def _contains_fixture():
    return contains


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / ".evalspec"
