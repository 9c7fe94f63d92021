import json

import pytest

from evalspec.checks.base import run_check
from evalspec.judge.verdict import verdict_schema
from evalspec.outcome import Status
from evalspec.response import ModelResponse

from .helpers import FakeContext, answers_in, case, judge_spec, plan, rubric, verdict

ANSWER = ModelResponse(text="At dawn the Eiger's summit turns rose, then gold.")


def replies(*texts):
    """A responder giving sample i the i-th text (keys end in `:i`)."""
    def respond(prompt, key):
        reply = texts[int(key.rsplit(":", 1)[1])]
        return reply
    return respond


async def run(ctx, spec=None, response=ANSWER, c=None):
    result = await run_check(spec or judge_spec(), c or case(), response, ctx)
    json.dumps(result.to_json())  # evidence must always serialise
    return result


async def test_pass_with_full_evidence():
    ctx = FakeContext(plan(), replies(verdict(5, 4, overall=5)))
    result = await run(ctx)
    assert result.status is Status.PASS
    assert result.score == pytest.approx(14 / 3)
    assert result.reason == "judge judge scored 4.67 ≥ 4 under rubrics.writing"
    ev = result.evidence
    assert ev["rubric"] == "rubrics.writing" and ev["rubric_hash"] == "abcdef0123456789"
    assert ev["judge"] == "judge" and ev["template"] == "evalspec:single.j2"
    assert ev["samples"][0]["criteria"]["imagery"] == {"score": 5, "reasoning": "images noted"}
    assert ev["samples"][0]["overall"] == 5
    assert ev["criteria"]["structure"] == {"mean": 4, "scores": [4]}
    assert ev["mean"] == ev["median"] == ev["score"] and ev["stdev"] == 0
    assert "raw" not in ev["samples"][0]


async def test_the_call_goes_through_ctx_generate_as_documented():
    r = rubric(temperature=0.7, samples=2, judge="gpt4o")
    ctx = FakeContext(plan(r), replies(verdict(4, 4), verdict(4, 4)))
    await run(ctx)
    assert [c["key"] for c in ctx.calls] == ["judge:rubrics.writing:0", "judge:rubrics.writing:1"]
    call = ctx.calls[0]
    assert call["model"] == "gpt4o"  # the rubric's judge wins over the plan's default
    assert call["purpose"] == "judge"
    assert call["params"] == {"temperature": 0.7}
    assert call["response_schema"] == verdict_schema(r)
    assert answers_in(call["prompt"]) == {"answer": ANSWER.text}


async def test_fail_below_threshold_and_min_score_overrides():
    ctx = FakeContext(plan(), replies(verdict(3, 3)))
    result = await run(ctx)
    assert result.status is Status.FAIL and result.score == 3
    assert result.reason == "judge judge scored 3 < 4 under rubrics.writing"
    result = await run(ctx, judge_spec(min_score=3))
    assert result.status is Status.PASS and result.evidence["threshold"] == 3


async def test_unparseable_reply_is_unscored_with_the_raw_reply():
    ctx = FakeContext(plan(), replies("I really enjoyed this piece, lovely!"))
    result = await run(ctx)
    assert result.status is Status.UNSCORED
    assert result.score is None
    assert result.reason.startswith("no usable verdict from judge judge: 1 of 1 call unusable")
    sample = result.evidence["samples"][0]
    assert sample["status"] == "unusable"
    assert sample["raw"] == "I really enjoyed this piece, lovely!"


async def test_out_of_scale_score_is_unscored_never_a_pass():
    ctx = FakeContext(plan(), replies('{"score": 7}'))
    result = await run(ctx, judge_spec(min_score=1))
    assert result.status is Status.UNSCORED
    assert "outside the scale 1..5" in result.reason
    assert result.evidence["samples"][0]["raw"] == '{"score": 7}'


async def test_some_unusable_samples_are_left_out_and_said_so():
    ctx = FakeContext(plan(), replies(verdict(5, 5), "Score: 11", verdict(4, 4)))
    result = await run(ctx, judge_spec(samples=3))
    assert result.status is Status.PASS
    assert result.evidence["scores"] == [5, 4]
    assert result.evidence["samples_usable"] == 2
    assert result.score == pytest.approx(4.5)
    assert "(mean of 2)" in result.reason
    assert "1 of 3 judge replies unusable and left out (the score is 11" in result.reason
    assert [s["status"] for s in result.evidence["samples"]] == ["scored", "unusable", "scored"]


async def test_aggregates_and_spread():
    texts = (verdict(5, 5), verdict(2, 2), verdict(4, 4))
    ctx = FakeContext(plan(), replies(*texts))
    mean = await run(ctx, judge_spec(samples=3, aggregate="mean"))
    assert mean.status is Status.FAIL and mean.score == pytest.approx(11 / 3)
    median = await run(ctx, judge_spec(samples=3, aggregate="median"))
    assert median.status is Status.PASS and median.score == 4
    assert median.evidence["min"] == 2 and median.evidence["max"] == 5
    assert median.evidence["stdev"] == pytest.approx(1.5275, rel=1e-3)
    low = await run(ctx, judge_spec(samples=3, aggregate="min"))
    assert low.status is Status.FAIL and low.score == 2
    vote = await run(ctx, judge_spec(samples=3, aggregate="majority"))
    assert vote.status is Status.PASS and vote.evidence["votes_for"] == 2


async def test_rubric_defaults_for_samples_and_aggregate():
    r = rubric(samples=3, aggregate="min")
    ctx = FakeContext(plan(r), replies(verdict(5, 5), verdict(5, 5), verdict(3, 3)))
    result = await run(ctx)
    assert len(ctx.calls) == 3 and result.score == 3 and result.status is Status.FAIL


async def test_failed_judge_calls_are_errors_not_verdicts():
    ctx = FakeContext(plan(), lambda p, k: TimeoutError("judge endpoint timed out"))
    result = await run(ctx, judge_spec(samples=2))
    assert result.status is Status.ERROR
    assert "2 of 2 calls failed (the judge call failed: judge endpoint timed out)" in result.reason


async def test_mixed_failure_and_unusable_is_unscored():
    def respond(prompt, key):
        return RuntimeError("boom") if key.endswith(":0") else "no idea"
    result = await run(FakeContext(plan(), respond), judge_spec(samples=2))
    assert result.status is Status.UNSCORED


async def test_reference_guided_grading():
    r = rubric(reference="Rubric-level reference")
    ctx = FakeContext(plan(r), replies(verdict(4, 4)))
    result = await run(ctx, c=case(reference="f(g(1)) = 25"))
    assert "<reference>\nf(g(1)) = 25\n</reference>" in ctx.calls[0]["prompt"]
    assert result.evidence["reference_shown"] is True
    ctx = FakeContext(plan(r), replies(verdict(4, 4)))
    await run(ctx)
    assert "<reference>\nRubric-level reference\n</reference>" in ctx.calls[0]["prompt"]


async def test_local_judge_gets_the_compact_prompt_and_a_token_budget():
    ctx = FakeContext(plan(local_judge=True), replies(verdict(4, 4)))
    result = await run(ctx)
    assert result.evidence["template"] == "evalspec:single_compact.j2"
    assert ctx.calls[0]["params"]["max_tokens"] > 100
    schema = ctx.calls[0]["response_schema"]
    crit = schema["properties"]["criteria"]["properties"]["imagery"]["properties"]
    assert crit["reasoning"]["maxLength"] == 160


async def test_empty_answer_fails_without_asking_the_judge():
    ctx = FakeContext(plan(), replies(verdict(5, 5)))
    result = await run(ctx, response=ModelResponse(text="   "))
    assert result.status is Status.FAIL and "empty" in result.reason
    assert ctx.calls == []


async def test_huge_and_binary_answers_are_judged_clipped():
    ctx = FakeContext(plan(), replies(verdict(2, 2)))
    junk = bytes(range(256)).decode("latin-1") * 20_000
    result = await run(ctx, response=ModelResponse(text=junk))
    assert result.status is Status.FAIL
    assert result.evidence["truncated"] is True
    assert len(ctx.calls[0]["prompt"]) < 20_000


@pytest.mark.parametrize("p,spec,fragment", [
    (plan(judge=None), judge_spec(), "no judge model for rubric rubrics.writing"),
    (plan(), judge_spec("rubrics.nope"), "the plan has no rubric 'rubrics.nope'"),
])
async def test_configuration_errors(p, spec, fragment):
    ctx = FakeContext(p, replies(verdict(4, 4)))
    result = await run(ctx, spec)
    assert result.status is Status.ERROR and fragment in result.reason
    assert ctx.calls == []


async def test_broken_template_is_an_error_with_a_reason():
    ctx = FakeContext(plan(rubric(template="{{ answer }} {{ nope }}")), replies(verdict(4, 4)))
    result = await run(ctx)
    assert result.status is Status.ERROR
    assert "the judge template failed to render: 'nope' is undefined" in result.reason
