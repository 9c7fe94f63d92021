import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalspec.cli import main
from evalspec.commands.calibrate import calibration_record, load_rubrics
from evalspec.judge.calibrate import agreement, calibrate_plan, calibrate_rubric, format_table
from evalspec.plan import GoldenExample
from evalspec.testing.server import ScriptedServer

from .helpers import FakeContext, answers_in, plan, rubric

STDLIB = Path(__file__).resolve().parents[2] / "evalspec" / "stdlib"
GOLD = [GoldenExample("dull", 1), GoldenExample("flat", 2), GoldenExample("decent", 3),
        GoldenExample("good", 4), GoldenExample("superb", 5)]


class TestAgreement:
    def test_perfect(self):
        a = agreement([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])
        assert (a.exact, a.within_one, a.spearman, a.scored) == (1, 1, pytest.approx(1), 5)
        assert a.notes == ()

    def test_off_by_one_and_reversed(self):
        a = agreement([1, 2, 3, 4, 5], [2, 3, 4, 5, 5])
        assert a.exact == pytest.approx(0.2) and a.within_one == 1
        assert a.spearman == pytest.approx(0.9746794)
        r = agreement([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
        assert r.exact == pytest.approx(0.2) and r.within_one == pytest.approx(0.2)
        assert r.spearman == pytest.approx(-1)

    def test_aggregated_scores_round(self):
        a = agreement([4, 2], [4.33, 2.5])
        assert a.exact == pytest.approx(0.5) and a.within_one == 1

    def test_unscored_examples_count_against_the_judge(self):
        a = agreement([1, 3, 5], [1, None, 5])
        assert a.exact == pytest.approx(2 / 3) and a.scored == 2
        assert a.spearman == pytest.approx(1)
        assert a.notes == ("1 of 3 examples got no usable verdict and count as disagreements",)

    @pytest.mark.parametrize("expected,got,note", [
        ([1, 2, 3], [3, 3, 3], "the judge gave every example the same score"),
        ([4, 4, 4], [1, 2, 3], "every golden score is the same"),
        ([1, 2], [1, None], "needs at least two scored examples"),
    ])
    def test_spearman_undefined_is_nan_with_a_note(self, expected, got, note):
        a = agreement(expected, got)
        assert math.isnan(a.spearman)
        assert any(note in n for n in a.notes)
        assert a.to_json()["spearman"] is None


def judge_by_gold(gold: dict[str, float], flip: bool = False):
    """A judge that knows the golden scores: right, or wrong on purpose (the scale reversed)."""
    def respond(prompt, key):
        score = gold[answers_in(prompt)["answer"]]
        if flip:
            score = 6 - score
        return json.dumps({"criteria": {"imagery": {"reasoning": "-", "score": score},
                                        "structure": {"reasoning": "-", "score": score}},
                           "score": score})
    return respond


async def test_a_right_judge_agrees_and_a_wrong_one_does_not():
    r = rubric(examples=tuple(GOLD), min_agreement=0.8)
    gold = {e.text: e.score for e in GOLD}
    right = await calibrate_rubric(r, FakeContext(plan(r), judge_by_gold(gold)))
    wrong = await calibrate_rubric(r, FakeContext(plan(r), judge_by_gold(gold, flip=True)))
    assert (right.agreement.exact, right.agreement.within_one) == (1, 1)
    assert right.agreement.spearman == pytest.approx(1) and right.meets is True
    assert wrong.agreement.exact == pytest.approx(0.2)
    assert wrong.agreement.within_one == pytest.approx(0.2)
    assert wrong.agreement.spearman == pytest.approx(-1) and wrong.meets is False
    assert [e.got for e in wrong.examples] == [5, 4, 3, 2, 1]


async def test_examples_are_graded_like_answers_with_their_prompt():
    r = rubric(examples=(GoldenExample("text", 3, "Describe the Alps"),), samples=2)
    ctx = FakeContext(plan(r), lambda p, k: '{"score": 3}')
    result = await calibrate_rubric(r, ctx)
    assert [c["key"] for c in ctx.calls] == ["calibrate:0:rubrics.writing:0",
                                             "calibrate:0:rubrics.writing:1"]
    assert all(c["purpose"] == "calibrate" for c in ctx.calls)
    assert "<question>\nDescribe the Alps\n</question>" in ctx.calls[0]["prompt"]
    assert result.examples[0].got == 3


async def test_unusable_verdicts_and_missing_examples():
    r = rubric(examples=tuple(GOLD))
    garbage = await calibrate_rubric(r, FakeContext(plan(r), lambda p, k: "no idea"))
    assert garbage.agreement.exact == 0 and garbage.agreement.scored == 0
    assert {e.status for e in garbage.examples} == {"unscored"}
    bare = await calibrate_rubric(rubric(), FakeContext(plan(), lambda p, k: "x"))
    assert bare.agreement is None and bare.notes == ("no golden examples",)
    table = format_table([garbage, bare])
    assert "note: rubrics.writing: no golden examples" in table


async def test_calibrate_plan_rejects_unknown_rubrics():
    with pytest.raises(KeyError, match=r"no rubric named rubrics\.nope"):
        await calibrate_plan(plan(), FakeContext(plan(), lambda p, k: "x"), ["rubrics.nope"])


# -- the command, through the real runner gateway and a loopback judge ---------------------------

def stdlib_gold() -> dict[str, tuple[dict, dict[str, float]]]:
    """rubric id -> (rubric, {example text: golden score}), read by the command's own loader."""
    p = load_rubrics([STDLIB])
    return {rid: (r, {e.text: e.score for e in r.examples}) for rid, r in p.rubrics.items()}


def scripted_judge(flip: bool):
    rubrics = stdlib_gold()

    def respond(body):
        prompt = body["messages"][-1]["content"]
        rid = re.match(r"EVALSPEC-JUDGE mode=single rubric=(\S+)", prompt).group(1)
        r, gold = rubrics[rid]
        score = gold[answers_in(prompt)["answer"]]
        if flip:
            score = r.scale_max + r.scale_min - score
        return json.dumps({"criteria": {c.name: {"reasoning": "scripted", "score": int(score)}
                                        for c in r.criteria}, "score": int(score)})
    return respond


@pytest.fixture
def judge_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    with ScriptedServer(default="unscripted") as server:
        yield server


def run_calibrate(server, tmp_path, flip):
    server.clear_rules()
    server.script("EVALSPEC-JUDGE", respond=scripted_judge(flip))
    result = CliRunner().invoke(main, [
        "calibrate", str(STDLIB), "--judge", f"openai:scripted-judge@{server.url}",
        "--store", str(tmp_path / "store"), "--no-cache", "--json", "-"])
    return result, json.loads(result.stdout)


def test_stdlib_calibrates_against_a_scripted_judge(judge_server, tmp_path):
    right, good = run_calibrate(judge_server, tmp_path, flip=False)
    assert right.exit_code == 0, right.output
    figures = {c["rubric"]: c["agreement"] for c in good["calibrations"]}
    assert set(figures) == {"creative_writing", "code_quality", "factual_accuracy",
                            "helpfulness", "instruction_following", "extraction_quality"}
    for rid, a in figures.items():
        assert a["n"] >= 4, rid
        assert (a["exact"], a["within_one"]) == (1, 1), rid
        assert a["spearman"] == pytest.approx(1), rid
    assert "creative_writing" in right.stderr  # the table, beside the JSON

    wrong, bad = run_calibrate(judge_server, tmp_path, flip=True)
    assert wrong.exit_code == 1
    assert "below min_agreement" in wrong.stderr
    for c in bad["calibrations"]:
        a = c["agreement"]
        assert a["exact"] < figures[c["rubric"]]["exact"]
        assert a["spearman"] == pytest.approx(-1)
        assert c["meets"] is False
    record = calibration_record(tmp_path / "store", stdlib_gold()["creative_writing"][0])
    assert record is not None and record["meets"] is False
    assert record["judge_endpoint"]["model_id"] == "scripted-judge"
    # a changed rubric is a different rubric: its old calibration does not count
    from dataclasses import replace
    changed = replace(stdlib_gold()["creative_writing"][0], content_hash="0" * 16)
    assert calibration_record(tmp_path / "store", changed) is None


def test_usage_errors(tmp_path):
    from evalspec.plan import Plan

    runner = CliRunner()
    spec = tmp_path / "r.eval"
    spec.write_text((STDLIB / "helpfulness.eval").read_text())
    unknown = runner.invoke(main, ["calibrate", str(spec), "--rubric", "nope"])
    assert unknown.exit_code == 2 and "no rubric nope" in unknown.output
    # a compiled plan without a judge: nothing can grade its examples
    orphan = Plan(source="x", models={}, judge=None, rubrics={"rubrics.writing": rubric()},
                  tools={}, cases=())
    plan_file = tmp_path / "x.plan.json"
    plan_file.write_text(orphan.dumps())
    no_judge = runner.invoke(main, ["calibrate", str(plan_file), "--store", str(tmp_path / "s")])
    assert no_judge.exit_code == 2 and "no judge for rubrics.writing" in no_judge.output
    empty = tmp_path / "empty.eval"
    empty.write_text("# nothing here\n")
    result = runner.invoke(main, ["calibrate", str(empty)])
    assert result.exit_code == 2 and "no rubrics in" in result.output
