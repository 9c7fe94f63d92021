"""The report model: the figures every renderer shows, computed once."""

from __future__ import annotations

import copy

import pytest

from evalspec.outcome import Status
from evalspec.reports import build_report

from ._data import result


def test_seed_figures(seed):
    r = build_report([seed])
    assert r.models == ("llama", "gpt4o")
    llama, gpt = r.overall["llama"], r.overall["gpt4o"]
    assert (llama.passed, llama.decided, gpt.passed, gpt.decided) == (5, 8, 7, 8)
    assert llama.score.value == pytest.approx(3.0) and gpt.score.value == pytest.approx(14 / 3)
    assert [g.name for g in r.groups] == ["math", "code", "tool_use", "extraction", "writing"]
    (record,) = r.records
    assert (record.wins_a, record.ties, record.wins_b, record.consistency) == (0, 1, 1, 0.5)
    (c,) = r.comparisons
    assert (c.pass_a, c.pass_b, c.n, c.excluded) == (5, 7, 8, 0)
    assert c.mcnemar.p_value == pytest.approx(0.5) and c.scores.p_value == pytest.approx(0.25)
    assert c.leader == "gpt4o" and not c.significant
    assert r.verdict.startswith("gpt4o ahead, but no significant difference: ")
    s3 = r.cases[2]
    assert s3.status("llama") is Status.FAIL
    assert s3.cells["llama"][0].deciding.kind == "code"
    assert r.cases[4].cells["llama"][0].tool_trace == [
        "calculate_factorial(n=10) → 3628800", "calculate_factorial(n=8) → 40320",
        "calculate_gcd(a=10, b=8) → 2"]


def test_group_by_tags(seed):
    r = build_report([seed], group_by="tag:S*")
    assert [g.name for g in r.groups] == [f"S{i}" for i in range(1, 9)]
    assert [g.name for g in r.suites][:1] == ["math"]
    by_tag = build_report([seed], group_by="tag")
    assert {"json", "tools", "S1"} <= {g.name for g in by_tag.groups}
    with pytest.raises(ValueError, match="cannot group by 'model'"):
        build_report([seed], group_by="model")


def test_errors_are_left_out_of_the_paired_test(seed):
    r0 = result(seed, "math/S1", "llama")
    r0.update(status="error", error="HTTP 503", response=None, checks=[])
    r = build_report([seed])
    c = r.comparisons[0]
    assert (c.n, c.excluded, c.mcnemar.informative) == (7, 1, 1)
    assert "1 pair(s) left out because a result was an error or unscored" in c.warnings
    assert r.overall["llama"].errors == 1 and r.overall["llama"].decided == 7


def test_the_same_model_in_two_runs_is_compared_with_itself(seed):
    later = copy.deepcopy(seed)
    later["run_id"] = "r-20261128-101010-ffee00"
    result(later, "math/S1", "llama").update(status="pass")
    result(later, "writing/S8", "gpt4o").update(status="fail")
    r = build_report([seed, later])
    assert r.models == ("llama@ab12cd", "gpt4o@ab12cd", "llama@ffee00", "gpt4o@ffee00")
    assert len(r.comparisons) == 6
    same = next(c for c in r.comparisons
                if (c.model_a, c.model_b) == ("llama@ab12cd", "llama@ffee00"))
    assert (same.pass_a, same.pass_b, same.mcnemar.b_better) == (5, 6, 1)
    assert r.verdict.startswith("pass rates gpt4o@ab12cd 7/8 > ")


def test_runs_with_different_models_merge(seed):
    llama = copy.deepcopy(seed)
    llama["results"] = [x for x in llama["results"] if x["model"] == "llama"]
    llama["models"] = {"llama": llama["models"]["llama"]}
    llama["pairwise"] = []
    gpt = copy.deepcopy(seed)
    gpt["run_id"] = "r-20261128-101010-ffee00"
    gpt["results"] = [x for x in gpt["results"] if x["model"] == "gpt4o"]
    gpt["models"] = {"gpt4o": gpt["models"]["gpt4o"]}
    r = build_report([llama, gpt])
    assert r.models == ("llama", "gpt4o") and len(r.runs) == 2
    assert r.comparisons[0].verdict == build_report([seed]).comparisons[0].verdict


def test_samples_pair_by_sample_and_mixed_scales_normalise(seed):
    extra = copy.deepcopy(result(seed, "writing/S8", "llama"))
    extra["sample"] = 1
    extra["status"] = "fail"
    seed["results"].append(extra)
    seed["rubrics"]["rubrics.playability"].update(scale_min=1, scale_max=10)
    r = build_report([seed])
    s8 = r.cases[-1]
    assert [c.sample for c in s8.cells["llama"]] == [0, 1]
    assert s8.status("llama") is Status.FAIL
    assert r.overall["llama"].score_normalised
    # Playability 2 on 1..10 is 1/9, extraction 3 on 1..5 is 1/2, creative writing 4 is 3/4
    # (twice: both samples).
    assert r.overall["llama"].score.value == pytest.approx((1 / 9 + 0.5 + 0.75 + 0.75) / 4)
    assert r.comparisons[0].n == 8


def test_empty_input():
    with pytest.raises(ValueError, match="no results"):
        build_report([])
    r = build_report([{"run_id": "r-1", "results": []}])
    assert r.cases == () and r.verdict == "no results"


def test_judge_reasoning_and_nested_run_evidence(seed):
    from evalspec.reports.model import CheckView

    r = build_report([seed])
    judged = r.cases[-1].cells["gpt4o"][0].judge_checks[0]
    assert judged.reasoning.startswith("Specific and multi-sensory")
    only_criteria = CheckView.from_json({"kind": "judge", "label": "judge x", "status": "fail",
                                         "reason": "", "evidence": {"samples": [
                                             {"status": "unusable"},
                                             {"criteria": {"a": {"score": 1, "reasoning": "bad"},
                                                           "b": {"score": 2}}}]}})
    assert only_criteria.reasoning == "a: bad"
    code = CheckView.from_json({"kind": "code", "label": "code python", "status": "fail",
                                "reason": "crashed", "evidence": {
                                    "mode": "runs", "run": {"exit": "exit code 1",
                                                            "stderr_tail": "x" * 500}}})
    assert code.facts()["exit"] == "exit code 1"
    assert code.highlights() == [("exit", "exit code 1"), ("stderr_tail", "…" + "x" * 119)]
