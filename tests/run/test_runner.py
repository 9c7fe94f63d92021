"""The runner end to end over real HTTP: statuses, faults, cache, limits, contexts, pairwise,
tool loops, interruption and rejudging."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from evalspec.cache import ResponseCache
from evalspec.checks import register
from evalspec.outcome import CheckResult, Status
from evalspec.plan import CheckSpec, Message, RubricSpec, ToolSpec
from evalspec.providers import RetryPolicy
from evalspec.runner import Runner, RunOptions, interleave
from evalspec.store import Store
from evalspec.testing.server import Reply

FAST = RunOptions(concurrency=4, retry=RetryPolicy(backoff_base=0.01, backoff_max=0.05))


def run(plan, directory: Path, *, options: RunOptions = FAST, cache: bool = True, **kw):
    store = Store(directory)
    response_cache = ResponseCache(directory / "cache") if cache else None
    report = asyncio.run(Runner(plan, store, options=options, cache=response_cache,
                                **kw).run())
    return report, store


async def arun(plan, directory: Path, *, options: RunOptions = FAST, cache: bool = True,
               run_id: str | None = None, **kw):
    store = Store(directory)
    response_cache = ResponseCache(directory / "cache") if cache else None
    report = await Runner(plan, store, options=options, cache=response_cache, **kw).run(run_id)
    return report, store


def results_by_case(store: Store, run_id: str) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(r["case_id"], r["model"], r["sample"]): r
            for r in store.export_run(run_id)["results"]}


async def test_pass_fail_and_error_results(test_server, store_dir, make_case, make_model,
                                           make_plan, contains):
    test_server.script("capital of France", "Paris.")
    test_server.script("broken", Reply(fault="500", message="the GPU caught fire"))
    plan = make_plan([
        make_case("geo/pass", "capital of France?", checks=[contains("Paris")], tags=["easy"]),
        make_case("geo/fail", "capital of Italy?", checks=[contains("Rome")]),
        make_case("ops/error", "broken", checks=[contains("x")]),
    ], [make_model("m", test_server.url, retries=1)])
    report, store = await arun(plan, store_dir)
    results = results_by_case(store, report.run_id)
    assert results[("geo/pass", "m", 0)]["status"] == "pass"
    assert results[("geo/pass", "m", 0)]["tags"] == ["easy"]
    failed = results[("geo/fail", "m", 0)]
    assert failed["status"] == "fail"
    assert failed["checks"][0]["reason"] == "'Rome' is not in the answer"
    assert failed["response"]["text"] == "OK"
    errored = results[("ops/error", "m", 0)]
    assert errored["status"] == "error" and errored["response"] is None
    assert errored["checks"] == []
    assert errored["error"] == "HTTP 500 error: the GPU caught fire (after 2 attempts)"
    assert report.counts[("geo", "m")] == {"pass": 1, "fail": 1}
    assert report.exit_code() == 3
    assert report.complete and store.run(report.run_id).finished_at is not None


@pytest.mark.parametrize("fault,reason", [
    ("429", "HTTP 429 rate limited"),
    ("500", "HTTP 500"),
    ("timeout", "no answer within 0.3s"),
    ("malformed", "not JSON"),
    ("reset", "Server disconnected"),
    ("empty_choices", "no choices"),
    ("null_content", "null content"),
])
def test_every_fault_is_an_error_result_and_the_run_goes_on(test_server, store_dir, make_case,
                                                            make_model, make_plan, contains,
                                                            fault, reason):
    test_server.script("faulty", Reply(fault=fault, retry_after=0.01, hang_s=3))
    plan = make_plan([make_case(f"s/{i}", f"faulty {i}" if i == 2 else f"fine {i}",
                                checks=[contains("OK")]) for i in range(5)],
                     [make_model("m", test_server.url, retries=1, timeout_s=0.3)])
    report, store = run(plan, store_dir)
    statuses = {k[0]: r["status"] for k, r in results_by_case(store, report.run_id).items()}
    assert statuses == {"s/0": "pass", "s/1": "pass", "s/2": "error", "s/3": "pass",
                        "s/4": "pass"}
    error = store.result(report.run_id, "s/2", "m", 0).error
    assert reason in error
    retried = fault in ("429", "500", "timeout", "reset")
    assert test_server.count("faulty") == (2 if retried else 1)
    assert report.exit_code() == 3


def test_a_fully_cached_rerun_sends_nothing(test_server, store_dir, make_case, make_model,
                                            make_plan, contains):
    test_server.script("q", "answer OK")
    plan = make_plan([make_case(f"s/{i}", f"q {i}", checks=[contains("OK")], samples=2)
                      for i in range(6)], [make_model("m", test_server.url)])
    first, store = run(plan, store_dir)
    sent = test_server.count()
    assert sent == 12
    second, store = run(plan, store_dir)
    assert test_server.count() == sent
    assert second.run_id != first.run_id
    assert second.totals() == first.totals() == {"pass": 12}
    assert (second.requests, second.cached_requests) == (12, 12)
    exported = store.export_run(second.run_id)["results"]
    assert all(r["response"]["cached"] for r in exported)


def test_no_cache_and_refresh(test_server, store_dir, make_case, make_model, make_plan,
                              contains):
    rule = test_server.script("q", "first answer")
    plan = make_plan([make_case("s/a", "q", checks=[contains("second")])],
                     [make_model("m", test_server.url)])
    run(plan, store_dir)
    rule.replies = [Reply(text="second answer")]
    report, _ = run(plan, store_dir, options=replace(FAST, use_cache=False))
    assert test_server.count() == 2 and report.totals() == {"pass": 1}
    report, _ = run(plan, store_dir)  # --no-cache wrote nothing: the old answer is cached
    assert report.totals() == {"fail": 1} and test_server.count() == 2
    report, _ = run(plan, store_dir, options=replace(FAST, refresh=True))
    assert report.totals() == {"pass": 1} and test_server.count() == 3
    report, _ = run(plan, store_dir)  # --refresh overwrote the cached answer
    assert report.totals() == {"pass": 1} and test_server.count() == 3


def test_cache_key_follows_the_request_not_the_key(test_server, store_dir, make_case,
                                                   make_model, make_plan, contains,
                                                   monkeypatch):
    def plan_with(**model_kw):
        return make_plan([make_case("s/a", "q", checks=[contains("OK")])],
                         [make_model("m", test_server.url, api_key_env="RUNNER_TEST_KEY",
                                     **model_kw)])

    monkeypatch.setenv("RUNNER_TEST_KEY", "sk-one")
    run(plan_with(params={"temperature": 0.0}), store_dir)
    monkeypatch.setenv("RUNNER_TEST_KEY", "sk-two")  # another key: the same request
    run(plan_with(params={"temperature": 0.0}), store_dir)
    assert test_server.count() == 1
    run(plan_with(params={"temperature": 0.7}), store_dir)
    run(plan_with(params={"temperature": 0.0}, model_id="other-model"), store_dir)
    run(plan_with(params={"temperature": 0.0}, extra_body={"top_k": 5}), store_dir)
    assert test_server.count() == 4


def test_samples_get_their_own_seed(test_server, store_dir, make_case, make_model, make_plan):
    plan = make_plan([make_case("s/a", "q", samples=3)],
                     [make_model("m", test_server.url, params={"seed": 7})])
    run(plan, store_dir)
    assert sorted(r.body["seed"] for r in test_server.requests) == [7, 8, 9]


def test_concurrency_limits_per_model(test_server, store_dir, make_case, make_model,
                                      make_plan):
    test_server.latency = 0.05
    plan = make_plan([make_case(f"s/{i}", f"q {i}", models=("a", "b")) for i in range(12)],
                     [make_model("a", test_server.url, concurrency=3),
                      make_model("b", test_server.url, concurrency=2)])
    run(plan, store_dir)
    # Both models at their limits at once: 3 + 2, never more.
    assert test_server.max_in_flight == 5
    per_model = {"a-id": 0, "b-id": 0}
    for r in test_server.requests:
        per_model[r.body["model"]] += 1
    assert per_model == {"a-id": 12, "b-id": 12}


def test_default_concurrency_applies_to_models_without_a_limit(test_server, store_dir,
                                                               make_case, make_model, make_plan):
    test_server.latency = 0.05
    plan = make_plan([make_case(f"s/{i}", f"q {i}") for i in range(10)],
                     [make_model("m", test_server.url)])
    run(plan, store_dir, options=replace(FAST, concurrency=2))
    assert test_server.max_in_flight == 2


def test_suites_interleave(make_case):
    cases = [make_case(f"{s}/{i}", "q") for s in ("a", "b", "c") for i in range(2)]
    assert [c.id for c in interleave(cases)] == ["a/0", "b/0", "c/0", "a/1", "b/1", "c/1"]


@register("test_judge_yes")
async def _judge_yes(spec, case, response, ctx) -> CheckResult:
    reply = await ctx.generate(ctx.plan.judge, [Message("user", f"JUDGE: {response.text}")],
                               response_schema={"type": "object"}, purpose="judge", key="k1")
    verdict = json.loads(reply.text)
    status = Status.PASS if verdict["ok"] else Status.FAIL
    return CheckResult("test_judge_yes", status, f"judged by {ctx.model}#{ctx.sample}")


def test_checks_call_models_through_the_context(test_server, store_dir, make_case, make_model,
                                                make_plan):
    test_server.script("JUDGE: good", '{"ok": true}')
    test_server.script("JUDGE:", '{"ok": false}')
    test_server.script("write well", "good prose")
    spec = CheckSpec("test_judge_yes", {}, "judge says yes")
    plan = make_plan([make_case("w/a", "write well", checks=[spec]),
                      make_case("w/b", "write badly", checks=[spec])],
                     [make_model("m", test_server.url), make_model("judge", test_server.url)],
                     judge="judge")
    report, store = run(plan, store_dir)
    results = results_by_case(store, report.run_id)
    assert results[("w/a", "m", 0)]["status"] == "pass"
    assert results[("w/b", "m", 0)]["status"] == "fail"
    assert results[("w/a", "m", 0)]["checks"][0]["reason"] == "judged by m#0"
    judge_bodies = [r.body for r in test_server.requests if r.body["model"] == "judge-id"]
    assert len(judge_bodies) == 2
    assert all("response_format" in b for b in judge_bodies)
    purposes = store._db.execute("SELECT purpose, count(*) FROM requests WHERE run_id = ? "
                                 "GROUP BY purpose", (report.run_id,)).fetchall()
    assert dict(purposes) == {"generate": 2, "judge": 2}
    run(plan, store_dir)  # the judge's answers are cached too
    assert test_server.count() == 4


@pytest.mark.skipif(importlib.util.find_spec("evalspec.judge.pairwise") is None,
                    reason="evalspec.judge.pairwise has not landed")
def test_pairwise_runs_once_every_model_answered(test_server, store_dir, make_case, make_model,
                                                 make_plan):
    def judge(body: dict[str, Any]) -> str:
        text = "\n".join(m["content"] for m in body["messages"])
        first = "A" if text.index("GPT: golden") < text.index("LLAMA: it is") else "B"
        return json.dumps({"reasoning": "richer imagery", "preferred": first})

    # The judge's prompt quotes the question too, so its rule comes first.
    test_server.script("GPT: golden", respond=judge, field="all")
    test_server.script("sunrise", respond=lambda body: (
        "GPT: golden light on the peaks" if body["model"] == "gpt-id" else "LLAMA: it is nice"))
    rubric = RubricSpec(id="rubrics.writing", name="writing", description="vivid writing",
                        scale_min=1, scale_max=5, pass_fail=False, threshold=4.0, criteria=(),
                        origin="test.eval:1")
    check = CheckSpec("pairwise", {"rubric": "rubrics.writing", "models": None,
                                   "samples": None}, "pairwise rubrics.writing")
    plan = make_plan([make_case("writing/S8", "Describe the sunrise", checks=[check],
                                models=("llama", "gpt"))],
                     [make_model("llama", test_server.url), make_model("gpt", test_server.url),
                      make_model("judge", test_server.url)],
                     judge="judge", rubrics={"rubrics.writing": rubric})
    report, store = run(plan, store_dir)
    (record,) = store.export_run(report.run_id)["pairwise"]
    assert (record["model_a"], record["model_b"]) == ("llama", "gpt")
    assert (record["winner"], record["consistent"], record["status"]) == ("gpt", True, "pass")
    assert sorted(v["order"] for v in record["verdicts"]) == ["ab", "ba"]
    # Without per-model checks, each answer is a pass; the comparison is the verdict.
    assert report.totals() == {"pass": 2}
    assert report.pairwise == [record]


@pytest.mark.skipif(importlib.util.find_spec("evalspec.sandbox") is None,
                    reason="evalspec.sandbox has not landed")
def test_native_tool_loop_goes_through_the_gateway(test_server, store_dir, make_case,
                                                   make_model, make_plan, contains):
    test_server.script("add 2 and 3", Reply(tool_calls=[{"name": "add",
                                                         "arguments": {"a": 2, "b": 3}}]),
                       "The sum is 5.")
    add = ToolSpec("add", "add two numbers", {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
        impl_source="def add(a, b):\n    return a + b\n", impl_function="add")
    plan = make_plan([make_case("tools/add", "add 2 and 3", checks=[contains("5")],
                                tools=("add",), tool_steps=2)],
                     [make_model("m", test_server.url)], tools={"add": add})
    report, store = run(plan, store_dir)
    first, second = test_server.requests
    assert first.body["tools"][0]["function"]["name"] == "add"
    assert second.body["messages"][-1]["role"] == "tool"
    assert second.body["messages"][-1]["content"] == "5"
    (result,) = store.export_run(report.run_id)["results"]
    assert result["status"] == "pass"
    assert [s["output"] for s in result["response"]["steps"]] == ["5"]
    assert report.requests == 2


async def test_an_interrupted_run_finishes_without_resending(test_server, store_dir, make_case,
                                                             make_model, make_plan, contains):
    test_server.latency = 0.05
    plan = make_plan([make_case(f"s/{i}", f"question {i}", checks=[contains("OK")])
                      for i in range(16)], [make_model("m", test_server.url, concurrency=2)])
    store = Store(store_dir)
    runner = Runner(plan, store, options=FAST)  # no cache: only the run's own log can help
    task = asyncio.create_task(runner.run())
    while sum(1 for _ in store.result_statuses(runner.run_id or "")) < 5:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run_id = runner.run_id
    assert store.run(run_id).finished_at is None
    stored = {c for c, *_ in store.result_statuses(run_id)}
    answered = {r.user for r in test_server.requests if r.completed}
    before = len(test_server.requests)
    assert store.resumable_run(runner.plan_hash) == run_id

    report = await Runner(plan, store, options=FAST).run(run_id)
    assert report.run_id == run_id and report.resumed and report.complete
    assert report.totals() == {"pass": 16}
    resent = [r.user for r in test_server.requests[before:]]
    # Nothing whose result was stored, nor any answered request, was asked again.
    assert not {f"question {c.split('/')[1]}" for c in stored} & set(resent)
    assert not answered & set(resent)
    assert len(resent) + len(answered) >= 16


def test_rejudge_scores_stored_answers_without_calling_the_models(test_server, store_dir,
                                                                  make_case, make_model,
                                                                  make_plan, contains):
    test_server.script("capital", "Paris")
    plan = make_plan([make_case("geo/a", "capital of France?", checks=[contains("Lyon")]),
                      make_case("geo/b", "boom", checks=[contains("x")])],
                     [make_model("m", test_server.url, retries=0)])
    test_server.script("boom", Reply(fault="400"))
    first, store = run(plan, store_dir)
    assert first.totals() == {"fail": 1, "error": 1}
    sent = test_server.count()
    changed = replace(plan, cases=(replace(plan.cases[0], checks=(contains("Paris"),)),
                                   plan.cases[1]))
    report, store = run(changed, store_dir, responses_from=first.run_id)
    assert test_server.count() == sent
    results = results_by_case(store, report.run_id)
    assert results[("geo/a", "m", 0)]["status"] == "pass"
    assert results[("geo/b", "m", 0)]["error"].startswith("HTTP 400")
    assert store.run(report.run_id).kind == "rejudge"
    assert store.run(report.run_id).parent == first.run_id
    new_prompt = replace(changed, cases=(replace(changed.cases[0], messages=(
        Message("user", "capital of Spain?"),)),))
    report, store = run(new_prompt, store_dir, responses_from=first.run_id)
    (only,) = store.export_run(report.run_id)["results"]
    assert only["status"] == "error"
    assert re.search(r"prompt of 'geo/a' changed since run r-", only["error"])
