"""A planted API key is sent to the endpoint and appears nowhere else: not under .evalspec/
(any byte of the databases, their WAL files, the cache), not in the plan, not in the JSON
results, not on stdout or stderr, even when the endpoint echoes it in an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalspec.plan import CheckSpec
from evalspec.testing.server import Reply

KEY = "sk-planted-SECRET-123"


@pytest.mark.slow
def test_a_planted_key_leaks_nowhere(test_server, tmp_path, make_case, make_model, make_plan):
    test_server.script("echo my key", Reply(fault="400", message=f"Incorrect API key: {KEY}"))
    test_server.script("flaky", "recovered OK", fail_first=1,
                       fail_with=Reply(fault="500", message=f"upstream rejected {KEY}"))
    contains = CheckSpec("text", {"op": "contains", "value": "OK", "ignore_case": False,
                                  "normalize": False}, "contains 'OK'")
    plan = make_plan([
        make_case("s/pass", "say OK", checks=[contains]),
        make_case("s/fail", "say nothing", checks=[CheckSpec(
            "text", {"op": "contains", "value": "absent", "ignore_case": False,
                     "normalize": False}, "contains 'absent'")]),
        make_case("s/error", "echo my key", checks=[contains]),
        make_case("s/retry", "flaky", checks=[contains]),
    ], [make_model("m", test_server.url, api_key_env="EVALSPEC_TEST_KEY", retries=1,
                   headers={"X-Trace": "on"})])
    plan_path = tmp_path / "p.plan.json"
    plan_path.write_text(plan.dumps())
    env = {**os.environ, "EVALSPEC_TEST_KEY": KEY}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "evalspec.cli", "run", str(plan_path), "--json",
         str(tmp_path / "out.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr  # s/error errs

    # The key did its job: every request carried it.
    assert {r.headers["Authorization"] for r in test_server.requests} == {f"Bearer {KEY}"}
    # The endpoint's error and the retry warning are reported, without the key.
    assert "Incorrect API key: <api key>" in proc.stdout
    assert "upstream rejected <api key>; retrying" in proc.stderr

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    # Every file: the databases, any WAL left behind, the cache, the plan, the JSON.
    assert {"results.sqlite", "responses.sqlite", "p.plan.json", "out.json"} <= {
        p.name for p in files}
    leaks = [str(p.relative_to(tmp_path)) for p in files
             if KEY.encode() in p.read_bytes() or b"planted-SECRET" in p.read_bytes()]
    assert leaks == []
    for stream in (proc.stdout, proc.stderr):
        assert KEY not in stream and "planted-SECRET" not in stream
    results = json.loads((tmp_path / "out.json").read_text())
    assert {r["case_id"]: r["status"] for r in results["results"]} == {
        "s/pass": "pass", "s/fail": "fail", "s/error": "error", "s/retry": "pass"}
    assert Path(tmp_path / ".evalspec" / "results.sqlite").exists()
