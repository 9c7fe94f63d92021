from evalspec.judge.lints import judge_lints
from evalspec.plan import CheckSpec, GoldenExample, Message

from .helpers import case, plan, rubric

GOLDEN = (GoldenExample("a", 1), GoldenExample("b", 5))


def judged(rubric_id="rubrics.writing", kind="judge", **params):
    return CheckSpec(kind, {"rubric": rubric_id, "min_score": None, "samples": None,
                            "aggregate": None, "models": None, **params},
                     f"{kind} {rubric_id}", "specs/seed.eval:44:5")


def lints(*cases, rubrics=None, judge="judge"):
    rs = rubrics or (rubric(examples=GOLDEN),)
    return judge_lints(plan(*rs, judge=judge, cases=cases))


def messages(text):
    return (Message("user", text),)


def test_a_clean_plan_has_no_warnings():
    assert lints(case(checks=(judged(),))) == []


def test_self_preference():
    found = lints(case(models=("llama", "judge"), checks=(judged(),)))
    assert len(found) == 1
    location, message = found[0]
    assert location == "specs/seed.eval:44:5"
    assert message.startswith("the judge `judge` grades its own answers in case writing/S8")
    assert "+10%" in message
    # pairwise compares only the models it names
    only_two = judged(kind="pairwise", models=["llama", "gpt4o"])
    assert lints(case(models=("llama", "gpt4o", "judge"), checks=(only_two,))) == []


def test_math_without_a_reference():
    math_case = case(id="math/S2", suite="math", tags=("S2",),
                     messages=messages(r"Compute \( f(g(x)) \) at \( x = 1 \)."),
                     checks=(judged(),))
    (found,) = lints(math_case)
    assert "math case math/S2 is judged without a reference answer" in found[1]
    assert "3 of 20" in found[1]
    assert lints(case(**{**_fields(math_case), "reference": "25"})) == []
    with_rubric_ref = rubric(examples=GOLDEN, reference="f(g(1)) = 25")
    assert lints(math_case, rubrics=(with_rubric_ref,)) == []


def test_math_is_recognised_by_tag_check_or_prompt_but_not_by_blood_pressure():
    by_tag = case(tags=("math",), checks=(judged(),))
    by_check = case(checks=(judged(), CheckSpec("number", {"op": "==", "value": 25}, "n")))
    by_prompt = case(messages=messages("What is 17 * 23?"), checks=(judged(),))
    for c in (by_tag, by_check, by_prompt):
        assert any("math case" in m for _, m in lints(c)), c
    medical = case(messages=messages("Blood pressure 140/90 mmHg; extract the entities."),
                   checks=(judged(),))
    assert lints(medical) == []


def test_gating_rubric_without_golden_examples():
    bare = rubric()
    found = lints(case(checks=(judged(),)), rubrics=(bare,))
    assert found == [("specs/rubrics.eval:3:1", "rubric rubrics.writing decides pass or fail but "
                      "has no golden examples, so nobody can check that its judge agrees with "
                      "people; add `example { text = … score = … }` blocks and run "
                      "`evalspec calibrate`")]
    # reported once per rubric, however many cases use it
    two = lints(case(checks=(judged(),)), case(id="writing/S9", checks=(judged(),)),
                rubrics=(bare,))
    assert len(two) == 1
    # pairwise comparisons do not gate the exit code
    assert lints(case(checks=(judged(kind="pairwise"),)), rubrics=(bare,)) == []


def test_nested_checks_are_seen():
    nested = CheckSpec("all", {}, "all", "", (judged(),))
    assert lints(case(models=("judge", "llama"), checks=(nested,)))


def test_pairwise_with_one_model_and_custom_templates():
    single = case(models=("llama",), checks=(judged(kind="pairwise"),))
    assert any("fewer than two models" in m for _, m in lints(single))
    custom = rubric(examples=GOLDEN, template="{{ answer }}")
    found = lints(case(checks=(judged(kind="pairwise"),)), rubrics=(custom,))
    assert any("shows no `answer_b`" in m for _, m in found)


def test_samples_at_temperature_zero():
    found = lints(case(checks=(judged(samples=3),)))
    assert found and "3 judge samples at temperature 0" in found[0][1]
    warm = rubric(examples=GOLDEN, temperature=0.7)
    assert lints(case(checks=(judged(samples=3),)), rubrics=(warm,)) == []


def test_unknown_rubrics_are_left_to_the_compiler():
    assert lints(case(checks=(judged("rubrics.gone"),))) == []


def _fields(c):
    return {f: getattr(c, f) for f in c.__slots__}
