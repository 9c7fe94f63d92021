"""JUnit XML: one testcase per case × model (× sample), failures with the checks' reasons."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from evalspec.reports import build_report, junit

from ._data import HOSTILE, result


def _parse(doc) -> ET.Element:
    return ET.fromstring(junit.render(build_report([doc])).encode("utf-8"))


def test_one_testcase_per_case_and_model(seed):
    root = _parse(seed)
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 16
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("16", "4", "0")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["math", "code", "tool_use", "extraction", "writing"]
    assert (suites["tool_use"].get("tests"), suites["tool_use"].get("failures")) == ("4", "2")
    failed = sorted(c.get("name") for c in cases if c.find("failure") is not None)
    assert failed == ["code/S3 [llama]", "math/S1 [llama]", "tool_use/S5 [gpt4o]",
                      "tool_use/S5 [llama]"]
    s1 = next(c for c in cases if c.get("name") == "math/S1 [llama]")
    assert s1.get("classname") == "evalspec.math" and s1.get("time") == "1.840"
    failure = s1.find("failure")
    assert failure.get("message") == ('choice ["9.11", "9.9"] == "9.9": the answer concludes '
                                      '"9.11", expected "9.9"')
    assert '[fail] text not_contains "9.11 is larger": the answer contains' in failure.text
    assert s1.find("system-out").text.startswith("9.11 is larger than 9.9.")
    s3 = next(c for c in cases if c.get("name") == "code/S3 [llama]").find("failure").text
    assert "[fail] judge rubrics.playability (score 2)" in s3
    assert "judge reasoning: The game opens a window" in s3


def test_errors_unscored_and_samples(seed):
    r = result(seed, "math/S2", "llama")
    r.update(status="error", error="connection reset after 5 attempts", response=None,
             checks=[])
    u = result(seed, "writing/S8", "gpt4o")
    u["status"] = "unscored"
    u["checks"][1].update(status="unscored", reason="the judge's reply was not JSON")
    second = copy.deepcopy(result(seed, "math/S1", "gpt4o"))
    second["sample"] = 1
    seed["results"].append(second)
    root = _parse(seed)
    cases = {c.get("name"): c for c in root.iter("testcase")}
    err = cases["math/S2 [llama]"].find("error")
    assert err.get("type") == "error"
    assert err.get("message") == "model call failed: connection reset after 5 attempts"
    unscored = cases["writing/S8 [gpt4o]"].find("error")
    assert unscored.get("type") == "unscored"
    assert "the judge's reply was not JSON" in unscored.text
    assert {"math/S1 [gpt4o] #0", "math/S1 [gpt4o] #1"} <= set(cases)
    assert (root.get("tests"), root.get("errors")) == ("17", "2")


def test_hostile_output_still_parses(seed):
    r = result(seed, "math/S1", "llama")
    r["response"]["text"] = HOSTILE * 3
    r["checks"][0]["reason"] = HOSTILE
    r["case_id"] = "math/S1\x01"
    root = _parse(seed)
    out = next(c for c in root.iter("testcase") if c.get("name", "").startswith("math/S1\ufffd"))
    assert out.find("system-out").text.startswith("<script>window.__pwned = 1</script>")
    assert "\x00" not in out.find("system-out").text
    assert "]]> & done (concluded: 9.11)" in out.find("failure").get("message")
