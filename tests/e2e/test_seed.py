"""The seed article end to end: `evalspec run specs/seed.eval` against two scripted models and
a scripted judge on loopback servers, as a user runs it (real processes, real HTTP, the real
sandbox). Each case must come out as the article judged it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evalspec.testing.server import ScriptedServer

from . import seed_answers

ROOT = Path(__file__).resolve().parents[2]

# case id -> (llama, gpt4o), as the seed article judged them (docs: seed-cases.md).
EXPECTED = {
    "math/S1": ("fail", "pass"),
    "math/S2": ("pass", "pass"),
    "code/S3": ("fail", "pass"),
    "tool_use/S4": ("pass", "pass"),
    "tool_use/S5": ("fail", "fail"),  # neither fed the factorials into the GCD call
    "tool_use_native/S4": ("pass", "pass"),
    "tool_use_native/S5": ("fail", "pass"),  # a correct multi-step run passes
    "extraction/S6": ("pass", "pass"),
    "extraction/S7": ("fail", "pass"),
    "writing/S8": ("pass", "pass"),
}


def evalspec(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalspec.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def servers():
    with ScriptedServer(default="I cannot help with that.") as llama, \
            ScriptedServer(default="I cannot help with that.") as gpt4o, \
            ScriptedServer(default="{}") as judge:
        seed_answers.script(llama, "llama")
        seed_answers.script(gpt4o, "gpt4o")
        judge.script("EVALSPEC-JUDGE", field="all", respond=seed_answers.judge_verdict("good"))
        yield llama, gpt4o, judge


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seed-project")
    return folder


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return {**os.environ, "LLAMA_API_KEY": "sk-llama-planted-1", "OPENAI_API_KEY":
            "sk-openai-planted-2", "JUDGE_API_KEY": "sk-judge-planted-3"}


def overrides(servers) -> list[str]:
    llama, gpt4o, judge = servers
    return ["--model", f"llama=openai:meta-llama/Llama-3.1-405B-Instruct@{llama.url}",
            "--model", f"gpt4o=openai:gpt-4o@{gpt4o.url}",
            "--judge", f"openai:gpt-4o-mini@{judge.url}"]


@pytest.fixture(scope="module")
def seed_run(servers, project: Path, env: dict[str, str]):
    spec = str(ROOT / "specs" / "seed.eval")
    out = project / "results.json"
    result = evalspec("run", spec, *overrides(servers), "--json", str(out), "--quiet",
                      "--report", f"md:{project / 'report.md'}",
                      "--report", f"html:{project / 'report.html'}",
                      cwd=project, env=env)
    return result, json.loads(out.read_text())


@pytest.mark.slow
def test_every_seed_case_is_decided_as_the_article_judged(seed_run) -> None:
    result, doc = seed_run
    assert result.returncode == 1, result.stderr[-3000:]  # some checks fail, as in the article
    statuses = {(r["case_id"], r["model"]): r for r in doc["results"]}
    wrong = []
    for case_id, (llama, gpt4o) in EXPECTED.items():
        for model, expected in (("llama", llama), ("gpt4o", gpt4o)):
            got = statuses[(case_id, model)]
            if got["status"] != expected:
                reasons = [f"{c['label']}: {c['status']}: {c['reason']}" for c in got["checks"]]
                wrong.append(f"{case_id} [{model}] {got['status']} != {expected}: {reasons}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_the_deciding_evidence_is_the_articles(seed_run) -> None:
    _, doc = seed_run
    by = {(r["case_id"], r["model"]): r for r in doc["results"]}
    s1 = by[("math/S1", "llama")]["checks"][0]
    assert "concludes 9.11" in s1["reason"]
    s5 = by[("tool_use/S5", "llama")]
    gcd = next(c for c in s5["checks"] if c["kind"] == "any")
    assert gcd["status"] == "fail" and "calculate_gcd" in json.dumps(gcd)
    executed = [s["call"]["name"] for s in s5["response"]["steps"]]
    assert executed.count("calculate_factorial") == 2 and "calculate_gcd" in executed
    native = by[("tool_use_native/S5", "gpt4o")]
    steps = native["response"]["steps"]
    gcd_call = next(s for s in steps if s["call"]["name"] == "calculate_gcd")
    assert gcd_call["call"]["arguments"] == {"a": 3628800, "b": 40320}
    assert gcd_call["output"].strip() == "40320"
    s3 = by[("code/S3", "llama")]["checks"][0]
    assert s3["status"] == "fail"
    s3_ok = by[("code/S3", "gpt4o")]["checks"]
    assert all(c["status"] == "pass" for c in s3_ok)
    s7 = by[("extraction/S7", "llama")]["checks"]
    assert any("clopidogrel" in c["reason"] for c in s7)
    (pair,) = doc["pairwise"]
    assert pair["winner"] == "gpt4o" and pair["consistent"] is True


@pytest.mark.slow
def test_reports_compare_the_two_models(seed_run, project: Path) -> None:
    markdown = (project / "report.md").read_text()
    for tag in ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"):
        assert tag in markdown, tag
    assert "McNemar" in markdown
    html = (project / "report.html").read_text()
    assert "<html" in html.lower()
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:)?//', html)


@pytest.mark.slow
def test_no_planted_key_is_stored_or_printed(seed_run, project: Path) -> None:
    result, _ = seed_run
    for path in project.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"planted" not in data, path
    assert "planted" not in result.stdout + result.stderr


@pytest.mark.slow
def test_rejudge_with_a_misbehaving_judge_calls_no_model_under_test(
        seed_run, servers, project: Path, env: dict[str, str]) -> None:
    _, doc = seed_run
    llama, gpt4o, _ = servers
    before = (llama.count(), gpt4o.count())
    with ScriptedServer(default="{}") as bad_judge:
        bad_judge.script("EVALSPEC-JUDGE", field="all",
                         respond=seed_answers.judge_verdict("bad"))
        out = project / "rejudged.json"
        result = evalspec("rejudge", doc["run_id"], "--judge",
                          f"openai:flaky-judge@{bad_judge.url}", "--json", str(out),
                          "--quiet", cwd=project, env=env)
        assert result.returncode in (1, 3), result.stderr[-2000:]
        assert bad_judge.count() > 0
    assert (llama.count(), gpt4o.count()) == before
    rejudged = json.loads(out.read_text())
    by = {(r["case_id"], r["model"]): r for r in rejudged["results"]}
    judge_llama = next(c for c in by[("writing/S8", "llama")]["checks"] if c["kind"] == "judge")
    judge_gpt = next(c for c in by[("writing/S8", "gpt4o")]["checks"] if c["kind"] == "judge")
    # An unparseable reply and an out-of-scale score are unscored, never a pass or a minimum.
    assert judge_llama["status"] == "unscored", judge_llama
    assert judge_gpt["status"] == "unscored", judge_gpt
    assert "9" in json.dumps(judge_gpt["evidence"])
    (pair,) = rejudged["pairwise"]
    # The judge always prefers the first answer shown: the orders disagree, so it is a tie.
    assert pair["winner"] == "tie" and pair["consistent"] is False


@pytest.mark.slow
def test_report_command_renders_the_stored_run(seed_run, project: Path,
                                               env: dict[str, str]) -> None:
    _, doc = seed_run
    result = evalspec("report", doc["run_id"], "--format", "md", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert "S1" in result.stdout and "gpt4o" in result.stdout and "llama" in result.stdout
    assert "9.11" in result.stdout  # the deciding evidence, not just a verdict


def test_pytest_collects_one_item_per_case_and_model() -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider", "specs/seed.eval"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    items = [line for line in result.stdout.splitlines() if "seed.eval::" in line]
    assert len(items) == 20, result.stdout[-2000:] + result.stderr[-2000:]
    assert any("S1" in i and "llama" in i for i in items)
