"""The `json` check: extraction from answers, strict and lenient parsing with positions, JSON
Schema validation with every violation, and field expectations (S6 company, S7 medical)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalspec.checks.base import lookup
from evalspec.checks.jsoncheck import check_json
from evalspec.extract.jsonfield import field_check
from evalspec.extract.jsonpath import PathError, parse_path, query, render
from evalspec.extract.jsontext import extract_json, fences
from evalspec.extract.jsonvalidate import schema_check
from evalspec.outcome import Status
from evalspec.plan import CaseSpec, CheckSpec, Message
from evalspec.response import ModelResponse

S6_GPT4O = """```json
{
  "Company Name": "Tech Innovation Co., Ltd.",
  "Year of Establishment": 2010,
  "Headquarters Address": "Timezone Technology Park, Melbourne",
  "Main Business Areas": ["artificial intelligence", "big data"],
  "Number of Employees": "more than 500",
  "Percentage of R&D Personnel": "70%",
  "Annual Revenue": "approximately 200 million AUD",
  "Contact Phone Number": "09812345678",
  "Email Address": "info@techcompany.com"
}
```"""

S6_LLAMA = """Here is the extracted information in JSON format:

{
  "company_name": "Tech Innovation Co., Ltd.",
  "year_of_establishment": "2010",
  "headquarters_address": "Timezone Technology Park, Melbourne",
  "main_business_areas": ["Artificial Intelligence", "Big Data"],
  "number_of_employees": "500+",
  "percentage_of_rd_personnel": 70,
  "annual_revenue": "200 million AUD",
  "contact_phone_number": "09812345678",
  "email_address": "info@techcompany.com"
}

Let me know if you need anything else!"""

S7 = """```json
{
  "terms": ["type 2 diabetes", "ST-segment elevation", "troponin I", "PCI"],
  "entities": [
    {"name": "Wang", "type": "patient"},
    {"name": "type 2 diabetes", "type": "disease"},
    {"name": "metformin", "type": "drug"},
    {"name": "acute ST-segment elevation myocardial infarction (anterior wall)",
     "type": "diagnosis"},
    {"name": "Aspirin", "type": "drug"},
    {"name": "clopidogrel", "type": "drug"},
    {"name": "percutaneous coronary intervention (PCI)", "type": "procedure"}
  ],
  "relationships": [
    {"source": "metformin", "relation": "treats", "target": "type 2 diabetes"},
    {"source": "aspirin and clopidogrel", "relation": "antiplatelet therapy for",
     "target": "myocardial infarction"}
  ]
}
```"""

S6_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["company_name", "year_of_establishment", "email_address"],
    "properties": {
        "year_of_establishment": {"type": "integer", "minimum": 1800},
        "email_address": {"type": "string", "format": "email"},
        "main_business_areas": {"type": "array", "items": {"type": "string"}},
    },
}


def _case() -> CaseSpec:
    return CaseSpec("s6/c", "s6", "c", (), (Message("user", "q"),), {}, 1, ("m",), ())


def _json(text: str, **params: Any) -> tuple[Status, str, dict]:
    params.setdefault("lenient", False)
    r = check_json(CheckSpec("json", params, "json"), _case(), ModelResponse(text))
    json.dumps(r.evidence)  # evidence must always serialise
    return r.status, r.reason, dict(r.evidence)


def _field(text: str, path: str, cmp: str, value: Any = None, **kw: Any) -> tuple[Status, str]:
    p = {"op": "field", "path": path, "cmp": cmp, "value": value, "abs_tol": None,
         "rel_tol": None, "ignore_case": False, **kw}
    status, reason, _ = _json(text, **p)
    return status, reason


# --- extraction ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value", "where"), [
    ('{"a": 1}', {"a": 1}, "the whole answer"),
    ("  [1, 2, 3]\n", [1, 2, 3], "the whole answer"),
    ('"just a string"', "just a string", "the whole answer"),
    ('Here:\n```json\n{"a": 1}\n```\nDone.', {"a": 1}, "the ```json block at line 2"),
    ('Here:\n~~~\n[{"a": 1}]\n~~~', [{"a": 1}], "the ``` block at line 2"),
    ('```python\nprint(1)\n```\n```JSON\n{"b": 2}\n```', {"b": 2}, "the ```JSON block at line 4"),
    ('Result: {"name": "x {not a brace} ]", "v": [1]} hope this helps',
     {"name": "x {not a brace} ]", "v": [1]}, "the object starting at line 1, col 9"),
    ('See [1] and [2]. The data: {"k": [1, 2, 3]}', {"k": [1, 2, 3]},
     "the object starting at line 1, col 28"),
    ('smile :-{ then {"a": 1}', {"a": 1}, "the object starting at line 1, col 16"),
    ('{"a": 1}\n\nThis JSON lists the fields.', {"a": 1}, "the object starting at line 1, col 1"),
])
def test_extract(text: str, value: Any, where: str) -> None:
    e = extract_json(text)
    assert e.ok, e.reason
    assert (e.value, e.where) == (value, where)


def test_extracted_span_points_at_the_json() -> None:
    text = 'Result: {"a": [1, 2]} ok'
    e = extract_json(text)
    assert text[e.start:e.end] == '{"a": [1, 2]}'


def test_fences_handle_unclosed_and_nested_lengths() -> None:
    text = "````md\n```json\n{}\n```\n````\n```json\n[1"
    assert [(i, text[a:b]) for i, a, b in fences(text)] == [
        ("md", "```json\n{}\n```\n"), ("json", "[1")]


@pytest.mark.parametrize(("text", "reason", "excerpt"), [
    ('{"a": 1,\n "b": 2\n "c": 3}',
     "invalid JSON at line 3, col 2: Expecting ',' delimiter (in the object starting at line 1, "
     "col 1)", ' "c": 3}\n ^'),
    ('```json\n{"a": 1, "b": [1, 2],}\n```',
     "invalid JSON at line 2, col 22: Expecting property name enclosed in double quotes "
     "(a trailing comma) (in the ```json block at line 1)", '{"a": 1, "b": [1, 2],}\n'
     + " " * 21 + "^"),
    ("{'a': 1}", "invalid JSON at line 1, col 2: Expecting property name enclosed in double "
     "quotes (single quotes are not JSON) (in the object starting at line 1, col 1)",
     "{'a': 1}\n ^"),
    # Cut off: the caret sits just past the last character.
    ('```json\n{"a": 1,\n "b": [1, 2\n', "invalid JSON at line 3, col 12: Expecting ',' "
     "delimiter (the text ends early: is the JSON cut off?) (in the ```json block at line 1)",
     ' "b": [1, 2\n           ^'),
    ('{"a": NaN}', "invalid JSON at line 1, col 7: NaN is not valid JSON (JSON has no NaN or "
     "Infinity) (in the object starting at line 1, col 1)", '{"a": NaN}\n      ^'),
])
def test_syntax_errors_have_exact_positions(text: str, reason: str, excerpt: str) -> None:
    status, got, ev = _json(text, op="valid")
    assert status is Status.FAIL
    assert got == reason
    assert ev["syntax_error"]["excerpt"] == excerpt


def test_strict_failure_says_lenient_would_parse() -> None:
    _, _, ev = _json('{"a": 1,}', op="valid")
    assert ev["syntax_error"]["lenient_would_parse"] is True
    _, _, ev = _json('{"a": 1 "b": 2}', op="valid")
    assert ev["syntax_error"]["lenient_would_parse"] is False


@pytest.mark.parametrize("text", [
    '{"a": 1, "b": [1, 2,],}',
    "{a: 1, 'b': 'it''s'}".replace("it''s", "its"),
    '{\n  // a comment\n  "a": 1, /* another */ "b": 0x10\n}',
    'The result:\n```json\n{name: "x", tags: ["a", "b",],}\n```',
    'Inline: {name: "x", n: 2,} and more text',
])
def test_lenient_mode_accepts_json5(text: str) -> None:
    assert _json(text, op="valid")[0] is Status.FAIL
    status, reason, ev = _json(text, op="valid", lenient=True)
    assert status is Status.PASS, reason
    assert reason.startswith("valid JSON (lenient): ")
    assert ev["lenient"] is True


@pytest.mark.parametrize(("text", "reason"), [
    ("", "the answer is empty"),
    ("   ", "the answer is empty"),
    ("No JSON here, just {x} and [sic].", "no JSON object or array found in the answer"),
    ("The set {1, 2, 3} is small.", "no JSON object or array found in the answer"),
])
def test_no_json(text: str, reason: str) -> None:
    status, got, _ = _json(text, op="valid")
    assert status is Status.FAIL
    assert got.startswith(reason)


@pytest.mark.parametrize("text", [
    "[" * 100_000,
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 100_000,
    "{" * 100_000,
    "```json\n" + "[" * 5000 + "]" * 5000 + "\n```",
])
@pytest.mark.parametrize("lenient", [False, True])
def test_malicious_nesting_fails_cleanly(text: str, lenient: bool) -> None:
    t0 = time.perf_counter()
    status, reason, _ = _json(text, op="valid", lenient=lenient)
    assert status is Status.FAIL
    assert "nested" in reason or "no JSON" in reason
    assert time.perf_counter() - t0 < 3


def test_garbage_and_binary() -> None:
    noise = bytes(range(256)).decode("latin-1") * 100 + "\ud800{\x00}[\x00"
    for lenient in (False, True):
        assert _json(noise, op="valid", lenient=lenient)[0] is Status.FAIL


def test_huge_answers_are_linear() -> None:
    doc = json.dumps({"rows": [{"id": i, "name": f"row {i}"} for i in range(200_000)]})
    prose = "x" * 5_000_000 + "\n```json\n" + doc + "\n```\n" + "y" * 1_000_000
    t0 = time.perf_counter()
    assert _json(prose, op="valid")[0] is Status.PASS
    assert _json("{" + " " * 10_000_000, op="valid")[0] is Status.FAIL
    assert _json("{ " * 2_000_000, op="valid", lenient=True)[0] is Status.FAIL
    assert time.perf_counter() - t0 < 8


# --- schema ---------------------------------------------------------------------------------

def test_schema_passes_and_names_the_draft() -> None:
    fixed = S6_LLAMA.replace('"2010"', "2010")
    status, reason, ev = _json(fixed, op="schema", schema=S6_SCHEMA)
    assert (status, reason) == (Status.PASS, "valid against the schema (Draft 2020-12)")
    assert ev["errors"] == []


def test_schema_reports_every_violation_sorted_by_path() -> None:
    doc = {"year_of_establishment": "2010", "email_address": "not an email",
           "main_business_areas": ["AI", 42, None]}
    status, reason, ev = _json(json.dumps(doc), op="schema", schema=S6_SCHEMA)
    assert status is Status.FAIL
    assert [(e["path"], e["keyword"]) for e in ev["errors"]] == [
        ("$", "required"),
        ("$.email_address", "format"),
        ("$.main_business_areas[1]", "type"),
        ("$.main_business_areas[2]", "type"),
        ("$.year_of_establishment", "type"),
    ]
    assert ev["error_count"] == 5
    assert reason.startswith("5 schema violations: $: 'company_name' is a required property; "
                             "$.email_address: 'not an email' is not a 'email'; ")
    assert reason.endswith("and 2 more")


def test_schema_uses_the_declared_draft() -> None:
    # Draft 4 reads exclusiveMaximum as a boolean; 2020-12 would reject this schema.
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer",
              "maximum": 10, "exclusiveMaximum": True}
    status, _, ev = _json("10", op="schema", schema=schema)
    assert status is Status.FAIL and ev["draft"] == "Draft 4"
    f = schema_check(5, {"$schema": "https://example.com/unknown", "type": "integer"})
    assert f.status == "pass" and "unknown $schema" in f.evidence["note"]


@pytest.mark.parametrize(("schema", "reason"), [
    ({"type": "nope"}, "the schema is invalid at $.type: "),
    ({"required": "name"}, "the schema is invalid at $.required: 'name' is not of type 'array'"),
    ("not a schema", "the schema must be a JSON object, not str"),
    ({"$ref": "https://example.com/missing.json"}, "the schema could not be applied: "),
])
def test_bad_schemas_are_errors(schema: Any, reason: str) -> None:
    status, got, _ = _json('{"a": 1}', op="schema", schema=schema)
    assert status is Status.ERROR
    assert got.startswith(reason)


def test_schema_on_deep_documents_fails_not_crashes() -> None:
    deep = "[" * 900 + "]" * 900
    schema = {"items": {"$ref": "#"}, "type": "array"}
    assert _json(deep, op="schema", schema=schema)[:2] == (
        Status.FAIL, "the document is nested too deeply to validate")
    shallow = "[" * 100 + "]" * 100
    assert _json(shallow, op="schema", schema=schema)[0] is Status.PASS


# --- paths ----------------------------------------------------------------------------------

DOC = {"company": {"name": "Tech", "staff": [{"name": "Ann", "age": 30},
                                             {"name": "Bo", "age": 41}]},
       "key with space": 1, "list": [10, 20, 30]}


@pytest.mark.parametrize(("path", "values"), [
    ("$", [DOC]),
    ("$.company.name", ["Tech"]),
    ("company.name", ["Tech"]),
    ("$.list[0]", [10]),
    ("$.list[-1]", [30]),
    ("$['key with space']", [1]),
    ('$["company"]["name"]', ["Tech"]),
    ("$.company.staff[*].name", ["Ann", "Bo"]),
    ("$..name", ["Tech", "Ann", "Bo"]),
    ("$..age", [30, 41]),
    ("$.list.*", [10, 20, 30]),
    ("$..staff[1].age", [41]),
])
def test_paths(path: str, values: list[Any]) -> None:
    assert [m.value for m in query(DOC, path).matches] == values


def test_render_round_trips() -> None:
    parts = ("a", 0, "key with space", "it's")
    assert render(parts) == "$.a[0]['key with space']['it\\'s']"
    assert [m.value for m in query({"a": [{"key with space": {"it's": 7}}]},
                                   render(parts)).matches] == [7]


@pytest.mark.parametrize(("path", "miss"), [
    ("$.companyName", "no key 'companyName' at $; keys are: company, key with space, list "
                      "(did you mean 'company'?)"),
    ("$.company.nam", "no key 'nam' at $.company; keys are: name, staff (did you mean 'name'?)"),
    ("$.list[5]", "index [5] is out of range at $.list (3 items)"),
    ("$.list.x", "$.list is a list, not an object, so it has no key 'x' (use [0] or [*] to "
                 "look inside)"),
    ("$.company[0]", "$.company is an object, not a list, so it has no index [0]; keys are: "
                     "name, staff"),
    ("$..salary", "no key 'salary' anywhere under $; keys seen: company, key with space, list, "
                  "name, staff, age"),
])
def test_path_misses_explain_themselves(path: str, miss: str) -> None:
    assert query(DOC, path).miss == miss


@pytest.mark.parametrize("path", ["$.a[", "$.[0]", "$..[0]", "$.a['x", "$a", "$.a[x]"])
def test_malformed_paths(path: str) -> None:
    with pytest.raises(PathError, match="invalid path"):
        parse_path(path)


def test_malformed_path_in_a_check_is_an_error() -> None:
    assert _field('{"a": 1}', "$.a[", "exists")[0] is Status.ERROR


def test_deep_documents_query_without_recursion() -> None:
    deep: Any = "bottom"
    for _ in range(50_000):
        deep = {"k": deep}
    assert [m.value for m in query(deep, "$..*").matches][-1] == "bottom"


# --- fields (S6, S7) ------------------------------------------------------------------------

def test_s6_fields() -> None:
    assert _field(S6_GPT4O, "$['Company Name']", "==", "Tech Innovation Co., Ltd.")[0] \
        is Status.PASS
    assert _field(S6_GPT4O, "$['Year of Establishment']", "==", 2010)[0] is Status.PASS
    status, reason = _field(S6_LLAMA, "$.year_of_establishment", "==", 2010)
    assert status is Status.PASS
    assert "compared the string \"2010\" as the number 2010" in reason
    assert _field(S6_LLAMA, "$.email_address", "matches", r"^[^@\s]+@[^@\s]+\.\w+$")[0] \
        is Status.PASS
    assert _field(S6_LLAMA, "$.number_of_employees", "matches",
                  r"(more than|over|>)\s*500|500\s*\+")[0] is Status.PASS
    assert _field(S6_GPT4O, "$['Number of Employees']", "matches",
                  r"(more than|over|>)\s*500|500\s*\+")[0] is Status.PASS
    assert _field(S6_LLAMA, "$.percentage_of_rd_personnel", ">=", 70)[0] is Status.PASS


def test_s6_strings_that_only_read_as_numbers_are_not_numbers() -> None:
    status, reason = _field(S6_LLAMA, "$.annual_revenue", "==", 200_000_000)
    assert status is Status.FAIL
    assert reason == ('$.annual_revenue is "200 million AUD", expected == 200000000 '
                      '("200 million AUD" is a string, not a number)')
    status, reason = _field(S6_GPT4O, "$['Percentage of R&D Personnel']", ">=", 70)
    assert reason.endswith('("70%" is a string, not a number (as written it reads 70))')


def test_s6_missing_key_with_did_you_mean() -> None:
    status, reason = _field(S6_LLAMA, "$.companyName", "exists")
    assert status is Status.FAIL
    assert reason.startswith("no key 'companyName' at $; keys are: company_name, "
                             "year_of_establishment, ")
    assert reason.endswith("(did you mean 'company_name'?)")


def test_s7_contains_all_searches_the_whole_document() -> None:
    needles = ["type 2 diabetes", "metformin", "ST-segment elevation", "troponin I",
               "aspirin", "clopidogrel", "PCI", "anterior wall"]
    status, reason = _field(S7, "$", "contains_all", needles, ignore_case=True)
    assert (status, reason) == (Status.PASS, "all 8 found under $")
    status, reason = _field(S7, "$", "contains_all", ["Metformin", *needles[2:]])
    assert status is Status.FAIL
    assert reason == ("missing 1 of 7 under $: 'Metformin'; 'Metformin' appears as "
                      "'metformin' at $.entities[2].name")
    status, reason = _field(S7, "$..name", "contains_all", ["doctor", "metformin"])
    assert reason.startswith("missing 1 of 2 under 7 values at $..name: 'doctor'")
    status, reason = _field(S7, "$", "contains_all", ["ST segment elevation"])
    assert "appears as 'ST-segment elevation' at $.terms[1]" in reason
    status, reason, ev = _json(S7, op="field", path="$", cmp="contains_all",
                               value=["relationships", "treats"], ignore_case=False)
    assert status is Status.PASS
    assert ev["found"] == {"relationships": "$.relationships",
                           "treats": "$.relationships[0].relation"}


def test_s7_contains_any_and_none_of() -> None:
    status, reason = _field(S7, "$.entities[*].type", "contains_any", ["drug", "medication"])
    assert (status, reason) == (Status.PASS, "found 'drug' at $.entities[2].type")
    assert _field(S7, "$..name", "!=", "doctor")[0] is Status.PASS
    status, reason = _field(S7, "$..type", "!=", "drug")
    assert status is Status.FAIL
    assert reason == ('$.entities[2].type is "drug", expected != "drug" (3 of 7 values at '
                      '$..type fail)')


@pytest.mark.parametrize(("doc", "path", "cmp", "value", "ok"), [
    ({"tags": ["a", "b"]}, "$.tags", "contains", "a", True),
    ({"tags": ["a", "b"]}, "$.tags", "contains", "c", False),
    ({"s": "hello world"}, "$.s", "contains", "lo wo", True),
    ({"o": {"k": 1}}, "$.o", "contains", "k", True),
    ({"n": 5}, "$.n", "contains", 5, False),
    ({"n": 5.0}, "$.n", "==", 5, True),
    ({"n": 5.001}, "$.n", "==", 5, False),
    ({"b": True}, "$.b", "==", 1, False),
    ({"b": True}, "$.b", "==", True, True),
    ({"z": None}, "$.z", "==", None, True),
    ({"l": [1, {"a": "x"}]}, "$.l", "==", [1, {"a": "x"}], True),
    ({"n": "1,234"}, "$.n", ">", 1000, True),
    ({"n": 2010}, "$.n", "==", "2010", True),
    ({"n": 2010}, "$.n", "matches", "^20", True),
    ({"s": "abc"}, "$.s", "<", 5, False),
    ({"s": "Paris"}, "$.s", "==", "paris", False),
])
def test_field_comparisons(doc: Any, path: str, cmp: str, value: Any, ok: bool) -> None:
    assert (field_check(doc, path, cmp, value).status == "pass") is ok


def test_field_tolerance_and_case() -> None:
    assert field_check({"x": 3.1416}, "$.x", "==", 3.14159, abs_tol=0.001).status == "pass"
    assert field_check({"x": 110}, "$.x", "==", 100, rel_tol=0.05).status == "fail"
    f = field_check({"s": "Paris"}, "$.s", "==", "paris")
    assert f.reason.endswith("(they differ only in case; try ignore_case)")
    assert field_check({"s": "Paris"}, "$.s", "==", "paris", ignore_case=True).status == "pass"


def test_invalid_regex_in_a_field_is_an_error() -> None:
    assert _field('{"a": "x"}', "$.a", "matches", "(")[0] is Status.ERROR


def test_field_on_unparseable_answer_fails_with_the_syntax_error() -> None:
    status, reason = _field('{"a": 1,,}', "$.a", "exists")
    assert status is Status.FAIL
    assert reason.startswith("invalid JSON at line 1, col 9")


async def test_registered_under_json() -> None:
    spec = CheckSpec("json", {"op": "valid", "lenient": False}, "json valid")
    r = await lookup("json")(spec, _case(), ModelResponse(S6_GPT4O), None)  # type: ignore[arg-type]
    assert r.status is Status.PASS
    assert r.evidence["source"] == "the ```json block at line 1"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(_json_values, st.text(max_size=30), st.text(max_size=30), st.booleans())
def test_any_document_embedded_in_prose_is_found(value: Any, before: str, after: str,
                                                 fenced: bool) -> None:
    body = json.dumps({"payload": value})
    text = f"{before}\n```json\n{body}\n```\n{after}" if fenced else f"Result: {body}"
    e = extract_json(text)
    assert e.ok and e.value == {"payload": value}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.characters(codec="utf-8") | st.sampled_from(
    [*'{}[]",:\'/*\n', "```json\n", "```", "true", "null", "1e9", "//", "/*"])).map("".join),
    st.booleans())
def test_extraction_never_raises(text: str, lenient: bool) -> None:
    e = extract_json(text, lenient)
    assert e.ok or e.reason
    if e.ok:
        field_check(e.value, "$..*", "contains_any", ["a"])
