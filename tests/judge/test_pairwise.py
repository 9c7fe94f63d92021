import json

import pytest

from evalspec.judge.pairwise import run_pairwise, summarise_pairwise
from evalspec.plan import CheckSpec
from evalspec.response import ModelResponse

from .helpers import FakeContext, answers_in, case, plan

RICH = "Alpenglow creeps down the Eiger's north face while the valley sleeps."
PLAIN = "The sun rose. It was nice."
RESPONSES = {"llama": ModelResponse(text=PLAIN), "gpt4o": ModelResponse(text=RICH)}


def spec(**params):
    return CheckSpec("pairwise", {"rubric": "rubrics.writing", "models": None, "samples": None,
                                  **params}, "pairwise rubrics.writing")


def choice(letter):
    return json.dumps({"reasoning": "compared", "preferred": letter})


def prefers(text):
    """A fair judge: prefers whichever position holds `text`."""
    def respond(prompt, key):
        shown = answers_in(prompt)
        return choice("A" if shown["answer_a"] == text else "B")
    return respond


def always(letter_or_text):
    return lambda prompt, key: letter_or_text


async def pairwise(respond, responses=RESPONSES, s=None, p=None):
    ctx = FakeContext(p or plan(), respond)
    results = await run_pairwise(s or spec(), case(), 0, responses, ctx)
    return results, ctx


async def test_both_orders_agree_is_a_win():
    (result,), ctx = await pairwise(prefers(RICH))
    assert (result.model_a, result.model_b) == ("llama", "gpt4o")
    assert result.winner == "gpt4o" and result.consistent is True and result.status == "pass"
    assert result.reason == "gpt4o wins: preferred in both orders"
    assert [(v.order, v.preferred) for v in result.verdicts] == [("ab", "b"), ("ba", "b")]
    # both orders were really asked: the rich answer sat in each position once
    positions = [answers_in(c["prompt"])["answer_a"] for c in ctx.calls]
    assert sorted(positions) == sorted([PLAIN, RICH])
    assert [c["key"] for c in ctx.calls] == ["pairwise:rubrics.writing:llama:gpt4o:ab:0",
                                             "pairwise:rubrics.writing:llama:gpt4o:ba:0"]
    assert all(c["purpose"] == "pairwise" for c in ctx.calls)
    assert ctx.calls[0]["response_schema"]["properties"]["preferred"]["enum"] == ["A", "B", "tie"]


async def test_orders_that_disagree_are_a_tie():
    (result,), _ = await pairwise(always(choice("A")))  # position bias: always the first
    assert result.winner == "tie" and result.consistent is False and result.status == "pass"
    assert result.reason == ("tie: the orders disagree (llama first: llama; gpt4o first: gpt4o),"
                             " a sign of position bias")


async def test_tie_in_both_orders_is_consistent():
    (result,), _ = await pairwise(always(choice("tie")))
    assert result.winner == "tie" and result.consistent is True


async def test_an_unusable_reply_is_unscored_with_the_raw_text():
    def respond(prompt, key):
        return "Both are lovely." if key.endswith(":ba:0") else choice("B")
    (result,), _ = await pairwise(respond)
    assert result.winner is None and result.consistent is None
    assert result.status == "unscored"
    assert "no usable verdict with gpt4o first" in result.reason
    assert result.verdicts[1].raw == "Both are lovely." and result.verdicts[1].preferred is None


async def test_failed_calls_are_errors():
    (result,), _ = await pairwise(always(ConnectionError("gone")))
    assert result.status == "error" and result.winner is None
    assert "the judge call failed: gone" in result.reason


async def test_missing_answer_is_an_error_for_that_pair_only():
    responses = {**RESPONSES, "mistral": ModelResponse(text="x")}
    s = spec(models=["llama", "gpt4o", "mistral", "claude"])
    results, ctx = await pairwise(prefers(RICH), responses, s)
    assert [(r.model_a, r.model_b) for r in results] == [
        ("llama", "gpt4o"), ("llama", "mistral"), ("llama", "claude"), ("gpt4o", "mistral"),
        ("gpt4o", "claude"), ("mistral", "claude")]
    assert [r.status for r in results if "claude" in (r.model_a, r.model_b)] == ["error"] * 3
    assert "no answer from claude" in results[2].reason
    assert len(ctx.calls) == 6  # three comparable pairs, two orders each


async def test_samples_take_the_majority_per_order():
    def respond(prompt, key):
        # order ab: samples say B, B, A -> B (gpt4o); order ba: A, A, tie -> A (gpt4o)
        order, i = key.split(":")[-2], int(key.split(":")[-1])
        return choice({"ab": "BBA", "ba": "AAC"}[order][i].replace("C", "tie"))
    (result,), ctx = await pairwise(respond, s=spec(samples=3))
    assert len(ctx.calls) == 6
    assert result.winner == "gpt4o" and result.consistent is True
    assert len(result.verdicts) == 6


async def test_no_judge_or_rubric():
    (result,), _ = await pairwise(prefers(RICH), p=plan(judge=None))
    assert result.status == "error" and "no judge model" in result.reason
    (result,), _ = await pairwise(prefers(RICH), s=spec(rubric="rubrics.gone"))
    assert result.status == "error" and "no rubric 'rubrics.gone'" in result.reason


async def test_to_json_matches_the_results_format():
    (result,), _ = await pairwise(prefers(RICH))
    d = result.to_json()
    assert list(d) == ["case_id", "sample", "rubric", "model_a", "model_b", "winner",
                       "consistent", "status", "reason", "verdicts"]
    assert list(d["verdicts"][0]) == ["order", "preferred", "raw", "reasoning"]
    assert d["case_id"] == "writing/S8" and d["rubric"] == "rubrics.writing"
    json.dumps(d)


async def test_summary_counts_and_position_consistency():
    records = []
    for respond in (prefers(RICH), prefers(RICH), always(choice("A")), always("garbage")):
        (r,), _ = await pairwise(respond)
        records.append(r)
    # the same pair seen the other way round folds into the same row
    (flipped,), _ = await pairwise(prefers(RICH), s=spec(models=["gpt4o", "llama"]))
    records.append(flipped.to_json())
    summary = summarise_pairwise(records)
    assert summary[("llama", "gpt4o")] == {"win": 0, "tie": 1, "loss": 3, "unscored": 1,
                                           "error": 0}
    assert summary["position_consistency"] == pytest.approx(3 / 4)
    # 8 usable picks: 6 from fair verdicts (half first) + 2 from the always-first judge
    assert summary["first_position_rate"] == pytest.approx(5 / 8)


def test_summary_of_nothing():
    assert summarise_pairwise([]) == {"position_consistency": None, "first_position_rate": None}
