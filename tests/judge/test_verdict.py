import json
import time

import jsonschema
import pytest

from evalspec.judge.verdict import (
    pairwise_schema,
    parse_pair_verdict,
    parse_verdict,
    reply_shape,
    verdict_schema,
)

from .helpers import pass_fail_rubric, rubric, verdict


class TestSchema:
    def test_reasoning_comes_before_score_everywhere(self):
        schema = verdict_schema(rubric())
        assert list(schema["properties"]) == ["criteria", "score"]
        for crit in schema["properties"]["criteria"]["properties"].values():
            assert list(crit["properties"]) == ["reasoning", "score"]
        assert list(json.loads(json.dumps(schema))["properties"]) == ["criteria", "score"]

    def test_scores_are_bounded_by_the_scale(self):
        schema = verdict_schema(rubric(scale_min=1, scale_max=10))
        assert schema["properties"]["score"] == {"type": "integer", "minimum": 1, "maximum": 10}
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        assert validator.is_valid(json.loads(verdict(7, 9)))
        assert not validator.is_valid(json.loads(verdict(11, 9)))
        assert not validator.is_valid({"criteria": {"imagery": {"score": 3}}, "score": 3})

    def test_reasoning_length_is_capped_for_small_models(self):
        schema = verdict_schema(rubric(), max_reasoning=160)
        crit = schema["properties"]["criteria"]["properties"]["imagery"]
        assert crit["properties"]["reasoning"]["maxLength"] == 160

    def test_pass_fail_and_criterionless_rubrics(self):
        pf = verdict_schema(pass_fail_rubric())
        assert pf["properties"]["score"] == {"type": "integer", "enum": [0, 1]}
        bare = verdict_schema(rubric(criteria=()))
        assert list(bare["properties"]) == ["reasoning", "score"]
        assert bare["required"] == ["reasoning", "score"]

    def test_pairwise_schema(self):
        schema = pairwise_schema()
        assert list(schema["properties"]) == ["reasoning", "preferred"]
        assert schema["properties"]["preferred"]["enum"] == ["A", "B", "tie"]

    def test_reply_shape_names_every_criterion(self):
        shape = reply_shape(rubric())
        assert '"imagery": {"reasoning": "...", "score": 1-5}' in shape
        assert shape.endswith('"score": 1-5}')


class TestParse:
    def test_clean_json_uses_the_weighted_criterion_mean(self):
        v = parse_verdict(verdict(5, 2, overall=4), rubric())
        assert v.usable and v.method == "json"
        assert v.score == pytest.approx((5 * 2 + 2 * 1) / 3)
        assert v.overall == 4
        assert v.criteria["imagery"].score == 5
        assert v.criteria["imagery"].reasoning == "images noted"

    def test_json_in_a_fence_inside_prose(self):
        text = f"Let me think.\n```json\n{verdict(4, 4)}\n```\nThat is my verdict."
        v = parse_verdict(text, rubric())
        assert v.score == 4 and v.method == "json"

    def test_bare_json_in_prose_last_one_wins(self):
        text = f"Draft: {verdict(1, 1)}. On reflection: {verdict(3, 3)}"
        assert parse_verdict(text, rubric()).score == 3

    def test_criteria_as_a_list(self):
        text = json.dumps({"criteria": [{"name": "imagery", "score": 4},
                                        {"name": "structure", "score": 1}], "score": 3})
        assert parse_verdict(text, rubric()).score == pytest.approx(3.0)

    def test_missing_criteria_fall_back_to_overall_with_a_note(self):
        v = parse_verdict('{"score": 2, "reasoning": "weak"}', rubric())
        assert v.score == 2 and v.notes and "structure" in v.notes[0]

    @pytest.mark.parametrize("text,expected", [
        ("The description is fine.\nScore: 4", 4),
        ("Feedback: vivid and well built. [RESULT] 5", 5),
        ("Score: 2\n... more thought ...\n[RESULT] 4", 4),
        ("Overall score: **3**/5", 3),
        ("score = 4.5", 4.5),
    ])
    def test_text_fallbacks(self, text, expected):
        v = parse_verdict(text, rubric())
        assert v.usable, v.problem
        assert v.score == expected

    @pytest.mark.parametrize("text,problem", [
        ("I liked it a lot, really good imagery.", "no verdict"),
        ("", "empty"),
        ("Score: 7", "outside the scale 1..5"),
        ("[RESULT] 0", "outside the scale 1..5"),
        ("Score: 8/10", "different scale"),
        (verdict(7, 3, overall=3), "criterion 'imagery' is 7, outside the scale 1..5"),
        (verdict(4, 4, overall=9), "overall score is 9"),
        ('{"criteria": {"imagery": {"reasoning": "cut off', "looks like JSON but is not valid"),
        ('{"score": "excellent"}', "not a number"),
        ('{"criteria": {"imagery": "oops"}} hmm... Rating: 2', "'oops', not a number"),
        ('{"score": NaN}', "not a number"),
        ('{"score": true}', "not a number"),
        ('{"reasoning": "no score at all", "criteria": {}}', "no overall score"),
    ])
    def test_unusable_replies_keep_the_raw_text(self, text, problem):
        v = parse_verdict(text, rubric())
        assert not v.usable
        assert v.score is None
        assert problem in (v.problem or "")
        assert v.raw == text

    def test_pass_fail_words(self):
        r = pass_fail_rubric()
        assert parse_verdict("[RESULT] PASS", r).score == 1
        assert parse_verdict("Verdict follows. Score: fail", r).score == 0
        assert parse_verdict('{"criteria": {"constraints": {"score": true}}, "score": 1}',
                             r).score == 1
        assert not parse_verdict("Score: 2", r).usable

    def test_hostile_replies_are_cheap_and_never_raise(self):
        big = "{" * 2_000_000 + "x" * 1_000_000
        start = time.perf_counter()
        assert not parse_verdict(big, rubric()).usable
        deep = '{"a":' * 100_000 + "1" + "}" * 100_000
        assert not parse_verdict(deep, rubric()).usable
        garbage = bytes(range(256)).decode("latin-1") * 4000
        assert not parse_verdict(garbage, rubric()).usable
        assert time.perf_counter() - start < 5


class TestParsePair:
    @pytest.mark.parametrize("text,expected", [
        ('{"reasoning": "A is richer", "preferred": "A"}', "A"),
        ('```json\n{"reasoning": "x", "preferred": "b"}\n```', "B"),
        ('{"reasoning": "same", "preferred": "tie"}', "tie"),
        ("Both are fine but the second is richer. [[B]]", "B"),
        ("Equal quality. [[C]]", "tie"),
        ("Winner: Answer A", "A"),
        ("reasoning... [RESULT] B", "B"),
    ])
    def test_preferences(self, text, expected):
        v = parse_pair_verdict(text)
        assert v.usable and v.preferred == expected

    @pytest.mark.parametrize("text", [
        "I cannot decide.", "", '{"preferred": "maybe"}', '{"reasoning": "cut',
    ])
    def test_unusable(self, text):
        v = parse_pair_verdict(text)
        assert v.preferred is None and v.problem and v.raw == text


def test_long_reasoning_is_capped_in_the_verdict():
    text = json.dumps({"reasoning": "blah " * 100_000, "score": 3})
    v = parse_verdict(text, rubric(criteria=()))
    assert v.score == 3 and len(v.reasoning) == 4000
