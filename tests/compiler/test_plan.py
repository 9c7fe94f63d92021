"""The compiled plan: golden output, determinism and content hashes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evalspec.compiler import compile_paths, compile_source
from evalspec.plan import Plan, canonical_json

ROOT = Path(__file__).resolve().parents[2]
PLANS = Path(__file__).parent.parent / "cases" / "plans"


def compile_one(path: Path) -> Plan:
    result = compile_paths([path])
    assert result.ok, [d.render() for d in result.errors]
    (plan,) = result.plans
    return plan


@pytest.mark.parametrize("spec", sorted(PLANS.glob("*.eval")), ids=lambda p: p.stem)
def test_golden_plan(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(spec.parent)
    actual = compile_one(Path(spec.name)).dumps()
    golden = spec.with_suffix(".plan.json")
    if os.environ.get("EVALSPEC_REGEN"):
        golden.write_text(actual, encoding="utf-8")
    assert actual == golden.read_text(encoding="utf-8")


def test_plan_expands_rows_and_renders_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PLANS)
    plan = compile_one(Path("data_driven.eval"))
    cases = {c.id: c for c in plan.cases}
    assert sorted(cases) == ["arithmetic/explain", "arithmetic/sum-1-2", "arithmetic/sum-20-22",
                             "arithmetic/tool"]
    second = cases["arithmetic/sum-20-22"]
    assert [m.content for m in second.messages] == ["You are a careful calculator.",
                                                    "What is 20 + 22?"]
    number = second.checks[0]
    assert number.kind == "number" and number.params["value"] == 42.0
    assert second.checks[1].kind == "not"
    summary = plan.summary()
    # 4 cases on one model, `explain` sampled twice, judged twice per sample.
    assert summary["generations"] == 5
    assert summary["judge_calls"] == 4
    assert summary["models"] == ["small"] and summary["judges"] == ["large"]


def test_round_trip_through_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PLANS)
    plan = compile_one(Path("data_driven.eval"))
    again = Plan.loads(plan.dumps())
    assert again == plan
    assert again.dumps() == plan.dumps()


def test_compiling_twice_is_byte_identical() -> None:
    first = compile_paths([ROOT / "specs"])
    second = compile_paths([ROOT / "specs"])
    assert first.ok and second.ok
    assert [p.dumps() for p in first.plans] == [p.dumps() for p in second.plans]


BASE = '''
model m {
  id = "m"
}
case a {
  prompt = "What is 2 + 2?"
  expect number == 4
}
case b {
  prompt = "Name a colour."
  expect text matches r"\\w+"
}
'''


def hashes(text: str) -> dict[str, str]:
    result = compile_source(text, Path("hashing.eval"))
    assert result.ok, [d.render() for d in result.errors]
    return {c.id: c.hash for c in result.plans[0].cases}


def test_case_hash_is_stable_and_changes_only_with_its_case() -> None:
    base = hashes(BASE)
    assert base == hashes(BASE)
    assert hashes(BASE.replace("2 + 2", "2 + 3"))["hashing/a"] != base["hashing/a"]
    assert hashes(BASE.replace("2 + 2", "2 + 3"))["hashing/b"] == base["hashing/b"]
    assert hashes(BASE.replace("== 4", "== 5"))["hashing/a"] != base["hashing/a"]
    changed_params = BASE.replace('prompt = "What', 'temperature = 0.5\n  prompt = "What')
    assert hashes(changed_params)["hashing/a"] != base["hashing/a"]


def test_case_hash_ignores_where_the_case_sits() -> None:
    # A result's hash is compared across runs (`evalspec diff`): a comment added at the top
    # of the file moves every case and check down, but changes none of them.
    base = hashes(BASE)
    moved = hashes(BASE.replace("model m {", "# a comment\n\nmodel m {"))
    assert moved == base


def test_case_content_is_its_json_without_locations() -> None:
    # content() is what the hash covers; a field added to to_json() must reach it too.
    for case in compile_paths([ROOT / "specs"]).plans[0].cases:
        full = case.to_json()
        full["checks"] = [strip_location(c) for c in full["checks"]]
        content = json.loads(canonical_json(case.content()))
        assert content == {k: v for k, v in full.items() if k not in ("hash", "location")}


def strip_location(check: dict) -> dict:
    out = {k: v for k, v in check.items() if k != "location"}
    if "children" in out:
        out["children"] = [strip_location(c) for c in out["children"]]
    return out


def test_case_hash_follows_the_rubric_it_uses() -> None:
    text = '''
model m {
  id = "m"
}
judge = m
rubric r {
  description = "quality"
  threshold = 3
}
case a {
  prompt = "Write a haiku."
  expect judge r
}
'''
    before = hashes(text)["hashing/a"]
    after = hashes(text.replace('"quality"', '"quality and form"'))["hashing/a"]
    assert before != after


def test_the_plan_never_contains_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-planted-secret-42")
    monkeypatch.setenv("LLAMA_API_KEY", "sk-planted-secret-43")
    result = compile_paths([ROOT / "specs"])
    for plan in result.plans:
        text = plan.dumps()
        assert "sk-planted" not in text
        if plan.source.endswith("seed.eval"):
            assert '"api_key_env": "OPENAI_API_KEY"' in text


def test_no_models_means_the_embedded_model() -> None:
    result = compile_source('case a {\n  prompt = "hi"\n  expect text contains "hi"\n}\n',
                            Path("local.eval"))
    (plan,) = result.plans
    assert list(plan.models) == ["local"]
    assert plan.models["local"].provider == "local"
    assert plan.judge == "local"
    assert json.loads(plan.dumps())["cases"][0]["models"] == ["local"]
