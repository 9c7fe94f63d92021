"""`evalspec run` and `evalspec rejudge` in process: overrides, filters, exit codes, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from evalspec.cli import main
from evalspec.commands.run import apply_overrides, filter_plan, merge_plans, parse_endpoint
from evalspec.plan import CheckSpec, RubricSpec
from evalspec.testing.server import Reply

DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens on the discard port


@pytest.fixture
def cli(tmp_path):
    def invoke(*args: str):
        result = CliRunner().invoke(main, ["run", *args, "--store", str(tmp_path / "store"),
                                           "--quiet"], catch_exceptions=False)
        return result
    return invoke


def write_plan(tmp_path: Path, plan, name: str = "p.plan.json") -> str:
    path = tmp_path / name
    path.write_text(plan.dumps())
    return str(path)


@pytest.fixture
def geo_plan(test_server, make_case, make_model, make_plan, contains):
    test_server.script("France", "Paris")
    test_server.script("Italy", "Rome")
    return make_plan([
        make_case("geo/fr", "capital of France?", checks=[contains("Paris")], tags=["europe"]),
        make_case("geo/it", "capital of Italy?", checks=[contains("Rome")], tags=["europe"]),
        make_case("math/add", "2+2?", checks=[contains("OK")], tags=["math"]),
    ], [make_model("m", test_server.url)])


def test_all_pass_exits_0_with_a_summary(cli, tmp_path, geo_plan):
    result = cli(write_plan(tmp_path, geo_plan))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "geo" in out and "math" in out and "100%" in out
    assert "3 results, complete; 3 model calls" in out


def test_failures_exit_1_unless_fail_under_is_met(cli, tmp_path, geo_plan, test_server):
    test_server.clear_rules()
    test_server.script("France", "Paris")  # Italy now answers OK: one failure in three
    path = write_plan(tmp_path, geo_plan)
    result = cli(path)
    assert result.exit_code == 1
    assert "FAIL     geo/it [m#0] contains 'Rome': 'Rome' is not in the answer" in result.stdout
    assert cli(path, "--fail-under", "60%").exit_code == 0
    assert cli(path, "--fail-under", "0.7").exit_code == 1
    assert cli(path, "--fail-under", "abc").exit_code == 2


def test_model_errors_exit_3(cli, tmp_path, make_case, make_model, make_plan, contains,
                             test_server):
    test_server.script("boom", Reply(fault="400", message="no such model"))
    plan = make_plan([make_case("s/a", "boom", checks=[contains("x")])],
                     [make_model("m", test_server.url)])
    result = cli(write_plan(tmp_path, plan))
    assert result.exit_code == 3
    assert "ERROR    s/a [m#0] HTTP 400 error: no such model" in result.stdout


def test_json_output_follows_the_documented_schema(cli, tmp_path, geo_plan):
    out = tmp_path / "results.json"
    assert cli(write_plan(tmp_path, geo_plan), "--json", str(out)).exit_code == 0
    data = json.loads(out.read_text())
    assert set(data) == {"schema", "schema_version", "run_id", "plan_hash", "source",
                         "started_at", "finished_at", "complete", "models", "judge", "rubrics",
                         "results", "pairwise"}
    assert (data["schema"], data["schema_version"], data["complete"]) == (
        "evalspec.results", 1, True)
    assert data["run_id"].startswith("r-") and len(data["plan_hash"]) == 16
    assert data["models"] == {"m": {"provider": "openai", "model_id": "m-id",
                                    "base_url": geo_plan.models["m"].base_url}}
    first = data["results"][0]
    assert set(first) == {"case_id", "case_hash", "suite", "title", "tags", "model", "sample",
                          "status", "error", "response", "checks"}
    assert [r["case_id"] for r in data["results"]] == ["geo/fr", "geo/it", "math/add"]
    assert first["checks"][0] == {"kind": "test_contains", "label": "contains 'Paris'",
                                  "status": "pass", "reason": "found 'Paris'", "evidence": {}}


def test_model_override_replaces_or_adds(cli, tmp_path, geo_plan, test_server):
    dead = geo_plan.models["m"].__class__(**{**geo_plan.models["m"].to_json(),
                                            "base_url": DEAD_URL})
    plan = geo_plan.__class__(geo_plan.source, {"m": dead}, None, {}, {}, geo_plan.cases)
    path = write_plan(tmp_path, plan)
    result = cli(path, "--model", f"m=openai:served-id@{test_server.url}", "-k", "math")
    assert result.exit_code == 0, result.output
    assert [r.body["model"] for r in test_server.requests] == ["served-id"]
    out = tmp_path / "r.json"
    result = cli(path, "--model", f"m=openai:served-id@{test_server.url}",
                 "--model", f"extra=openai:extra-id@{test_server.url}", "-k", "math",
                 "--json", str(out))
    assert result.exit_code == 0, result.output
    assert [r["model"] for r in json.loads(out.read_text())["results"]] == ["m", "extra"]


def test_bad_override_is_a_usage_error(cli, tmp_path, geo_plan):
    result = cli(write_plan(tmp_path, geo_plan), "--model", "m=gpt-4o")
    assert result.exit_code == 2
    assert "is not of the form openai:MODEL_ID@BASE_URL" in result.output
    assert cli(write_plan(tmp_path, geo_plan), "--model", "nameless").exit_code == 2


def test_parse_endpoint_forms():
    assert parse_endpoint("openai:gpt-4o@https://api.openai.com/v1", "x") == (
        "openai", "gpt-4o", "https://api.openai.com/v1")
    assert parse_endpoint("openai:llama3.1:8b@http://localhost:11434/v1", "x") == (
        "openai", "llama3.1:8b", "http://localhost:11434/v1")
    assert parse_endpoint("openai:gpt-4o", "x") == ("openai", "gpt-4o", None)
    assert parse_endpoint("local", "x") == ("local", "", None)
    with pytest.raises(click.BadParameter):
        parse_endpoint("anthropic:claude@https://x", "x")


def test_filter_by_tag_suite_id_and_glob(geo_plan):
    ids = lambda terms: [c.id for c in filter_plan(geo_plan, terms).cases]  # noqa: E731
    assert ids(["math"]) == ["math/add"]
    assert ids(["europe"]) == ["geo/fr", "geo/it"]
    assert ids(["geo/it,math/add"]) == ["geo/it", "math/add"]
    assert ids(["geo/*"]) == ["geo/fr", "geo/it"]
    with pytest.raises(click.UsageError, match="no case matches"):
        filter_plan(geo_plan, ["nothing"])


def test_local_and_judge_overrides(geo_plan):
    rubric = RubricSpec("r.w", "w", "d", 1, 5, False, 4.0, (), "x.eval:1", judge="grader")
    grader = geo_plan.models["m"].__class__("grader", "openai", "gpt-4o-mini",
                                            api_key_env="JUDGE_KEY")
    plan = geo_plan.__class__(geo_plan.source, {**geo_plan.models, "grader": grader}, "grader",
                              {"r.w": rubric}, {}, geo_plan.cases)
    long = plan.cases[0].__class__(**{**{f: getattr(plan.cases[0], f)
                                          for f in plan.cases[0].__slots__},
                                       "params": {"max_tokens": 4096}})
    plan = plan.__class__(plan.source, plan.models, plan.judge, plan.rubrics, {},
                          (long, *plan.cases[1:]))
    local = apply_overrides(plan, local=True)
    assert {n: (s.provider, s.chat_format) for n, s in local.models.items()} == {
        "m": ("local", "alpaca"), "grader": ("local", "alpaca")}
    # The embedded model gets budgets it can use: no 4096-token programs at 50 tokens/s.
    assert local.cases[0].params == {"max_tokens": 256}
    assert local.models["m"].params["max_tokens"] == 256
    judged = apply_overrides(plan, judge="openai:judge-id@http://judge.example/v1")
    assert judged.judge == "judge"
    assert judged.models["judge"].base_url == "http://judge.example/v1"
    assert judged.models["judge"].api_key_env == "JUDGE_KEY"  # the spec's key variable
    assert judged.rubrics["r.w"].judge is None
    both = apply_overrides(plan, local=True, judge="openai:judge-id@http://judge.example/v1")
    assert both.models["m"].provider == "local" and both.models["judge"].provider == "openai"


def test_override_replaces_the_implicit_local_model(geo_plan, make_case):
    from evalspec.commands.run import local_spec
    plan = geo_plan.__class__("x", {"local": local_spec("local", None)}, None, {}, {},
                              (make_case("s/a", "q", models=("local",)),))
    out = apply_overrides(plan, models=["gpt=openai:gpt-4o@https://api.openai.com/v1"])
    assert list(out.models) == ["gpt"] and out.cases[0].models == ("gpt",)


def test_merge_plans_refuses_clashes(geo_plan, make_case, make_plan, make_model):
    other = make_plan([make_case("extra/a", "q")], [make_model("m", geo_plan.models["m"]
                                                               .base_url)], source="b.eval")
    merged = merge_plans([geo_plan, other])
    assert len(merged.cases) == 4 and merged.source == "test.eval, b.eval"
    with pytest.raises(click.UsageError, match="is in both"):
        merge_plans([geo_plan, geo_plan])
    clash = make_plan([make_case("extra/a", "q")], [make_model("m", DEAD_URL)])
    with pytest.raises(click.UsageError, match="define the model 'm' differently"):
        merge_plans([geo_plan, clash])


def test_resume_options(cli, tmp_path, geo_plan, make_plan, make_case, make_model):
    path = write_plan(tmp_path, geo_plan)
    result = cli(path, "--resume")
    assert result.exit_code == 2 and "no incomplete run of this plan" in result.output
    assert cli(path, "--resume", "--new").exit_code == 2
    out = tmp_path / "r.json"
    assert cli(path, "--json", str(out)).exit_code == 0
    run_id = json.loads(out.read_text())["run_id"]
    other = write_plan(tmp_path, make_plan([make_case("x/y", "q")], [make_model("m", DEAD_URL)]),
                       "other.plan.json")
    result = cli(other, "--resume", run_id)
    assert result.exit_code == 2 and "ran another plan" in result.output
    # A finished run resumed by id: nothing is left to do, and nothing is asked again.
    result = cli("--resume", run_id)
    assert result.exit_code == 0, result.output
    assert f"run {run_id}" in result.stdout


def test_unset_base_url_variable_is_a_usage_error(cli, tmp_path, geo_plan, monkeypatch):
    monkeypatch.delenv("NOT_SET_BASE_URL", raising=False)
    spec = geo_plan.models["m"].__class__("m", "openai", "x", base_url_env="NOT_SET_BASE_URL")
    plan = geo_plan.__class__("x", {"m": spec}, None, {}, {}, geo_plan.cases)
    result = cli(write_plan(tmp_path, plan))
    assert result.exit_code == 2
    assert "$NOT_SET_BASE_URL, which is not set" in result.output
    assert not (tmp_path / "store" / "results.sqlite").exists() or \
        "r-" not in result.stdout


def test_rejudge_command(tmp_path, geo_plan, test_server, make_plan):
    store = str(tmp_path / "store")
    path = write_plan(tmp_path, geo_plan)
    runner = CliRunner()
    assert runner.invoke(main, ["run", path, "--store", store, "-q"]).exit_code == 0
    sent = test_server.count()
    strict = geo_plan.__class__(geo_plan.source, geo_plan.models, None, {}, {}, tuple(
        c.__class__(**{**{f: getattr(c, f) for f in c.__slots__},
                       "checks": (CheckSpec("test_contains", {"value": "Lyon"}, "Lyon"),)})
        for c in geo_plan.cases))
    new_path = write_plan(tmp_path, strict, "strict.plan.json")
    out = tmp_path / "rejudged.json"
    result = runner.invoke(main, ["rejudge", "latest", new_path, "--store", store, "-q",
                                  "--json", str(out)])
    assert result.exit_code == 1, result.output
    assert test_server.count() == sent
    data = json.loads(out.read_text())
    assert {r["status"] for r in data["results"]} == {"fail"}
    assert runner.invoke(main, ["rejudge", "r-nope", "--store", store]).exit_code == 2


def test_reports_are_checked_first_and_written_last(cli, tmp_path, geo_plan, test_server):
    path = write_plan(tmp_path, geo_plan)
    bad = cli(path, "--report", "pdf:out.pdf")
    assert bad.exit_code == 2 and "expected FORMAT:PATH" in bad.output
    assert test_server.count() == 0  # refused before any model call
    out = tmp_path / "report.md"
    assert cli(path, "--report", f"md:{out}").exit_code == 0
    assert "geo/fr" in out.read_text()
