"""`evalspec report` and `evalspec diff`, on results files and on runs stored by the runner."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalspec.cli import main
from evalspec.reports import ReportSpecError, parse_report_spec, write_reports
from evalspec.runner import Runner
from evalspec.store import Store

from ._data import SEED_RESULTS, result


def _cli(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, list(args), catch_exceptions=False)
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(main, list(args), catch_exceptions=False)


def test_report_formats_from_a_results_file(tmp_path):
    md = _cli("report", "--results", str(SEED_RESULTS), "--format", "md")
    assert md.exit_code == 0 and md.output.startswith("# specs/seed.eval: llama vs gpt4o")
    doc = json.loads(_cli("report", str(SEED_RESULTS), "-f", "json").output)
    assert doc["schema"] == "evalspec.report" and len(doc["results"]) == 16
    assert doc["summary"]["comparisons"][0]["mcnemar"]["p_value"] == pytest.approx(0.5)
    out = tmp_path / "out" / "report.html"
    html = _cli("report", str(SEED_RESULTS), "-f", "html", "-o", str(out))
    assert html.exit_code == 0 and out.read_text().startswith("<!DOCTYPE html>")
    text = _cli("report", str(SEED_RESULTS), "--by", "tag:S*")
    assert "By tag" in text.output and "S8" in text.output
    bad = CliRunner().invoke(main, ["report", str(SEED_RESULTS), "--by", "model"])
    assert bad.exit_code == 2 and "cannot group by 'model'" in bad.output


def test_report_without_a_store_says_what_to_do(tmp_path):
    out = CliRunner().invoke(main, ["report", "--store", str(tmp_path / "none")])
    assert out.exit_code == 2 and "no results store at" in out.output


@pytest.fixture
async def stored_runs(test_server, store_dir, make_plan, make_case, make_model, contains,
                      monkeypatch):
    """Two runs of one plan: the second answers the capital wrong."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    test_server.script("capital", "Paris", "Lyon")
    test_server.script("river", "The Loire")
    plan = make_plan([
        make_case("geo/capital", "What is the capital of France?", checks=[contains("Paris")],
                  tags=["S1"]),
        make_case("geo/river", "Which river is the longest in France?",
                  checks=[contains("Loire")])],
        [make_model("m", test_server.url)])
    store = Store(store_dir)
    ids = []
    for _ in range(2):
        report = await Runner(plan, store).run()
        ids.append(report.run_id)
    store.close()
    return ids


def test_report_and_diff_stored_runs(stored_runs, store_dir):
    first, second = stored_runs
    listed = _cli("report", "--list", "--store", str(store_dir)).output
    assert first in listed and second in listed
    latest = _cli("report", "--store", str(store_dir), "-f", "json")
    doc = json.loads(latest.output)
    assert doc["runs"][0]["run_id"] == second
    assert doc["summary"]["overall"]["m"]["passed"] == 1
    by_suffix = _cli("report", first.rsplit("-", 1)[1], "--store", str(store_dir), "-f", "md")
    assert "| m | ✅ pass |" in by_suffix.output
    # Both runs at once: the model is compared with itself.
    both = json.loads(_cli("report", first, second, "--store", str(store_dir),
                           "-f", "json").output)
    assert list(both["models"]) == [f"m@{first[-6:]}", f"m@{second[-6:]}"]

    diff = _cli("diff", first, second, "--store", str(store_dir))
    assert diff.exit_code == 0
    assert "regressed (1):" in diff.output
    assert "geo/capital [m#0] pass → fail: contains 'Paris': 'Paris' is not in the answer" \
        in diff.output
    assert "m: 2/2 → 1/2 passed, -50 pp [-100, +0]" in diff.output
    assert "1 regressed, 0 improved, 0 otherwise changed, 1 unchanged" in diff.output
    gate = CliRunner().invoke(main, ["diff", first, "latest", "--store", str(store_dir),
                                     "--fail-on-regression"])
    assert gate.exit_code == 1
    back = json.loads(_cli("diff", second, first, "--store", str(store_dir), "-f",
                           "json").output)
    assert [c["case_id"] for c in back["improved"]] == ["geo/capital"]
    assert back["models"][0]["difference"]["value"] == pytest.approx(0.5)


def test_diff_of_results_files_reports_added_removed_and_changed_cases(seed, tmp_path):
    after = copy.deepcopy(seed)
    after["run_id"] = "r-20261128-000000-bbbbbb"
    result(after, "math/S1", "llama").update(status="pass")
    s5 = result(after, "tool_use/S5", "gpt4o")
    s5.update(status="error", error="HTTP 500", checks=[], case_hash="changed")
    after["results"] = [r for r in after["results"] if r["case_id"] != "writing/S8"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(seed))
    b.write_text(json.dumps(after))
    out = _cli("diff", str(a), str(b)).output
    assert "improved (1):\n  math/S1 [llama#0] fail → pass: all checks passed" in out
    assert ("changed (1):\n  tool_use/S5 [gpt4o#0] fail → error: model call failed: HTTP 500"
            "  [the case changed between the runs]") in out
    assert "only in A (2): writing/S8 [llama#0], writing/S8 [gpt4o#0]" in out


def test_write_reports_and_specs(seed, tmp_path):
    paths = write_reports([seed], [f"md:{tmp_path / 'r.md'}", str(tmp_path / "r.xml"),
                                   f"html:{tmp_path / 'sub' / 'r.html'}"])
    assert [p.name for p in paths] == ["r.md", "r.xml", "r.html"]
    assert (tmp_path / "r.xml").read_text().startswith("<?xml")
    assert write_reports([seed], ["json:r.json"], base_dir=tmp_path) == [tmp_path / "r.json"]
    assert parse_report_spec("junit:out/j.xml") == ("junit", Path("out/j.xml"))
    with pytest.raises(ReportSpecError, match="expected FORMAT:PATH"):
        parse_report_spec("pdf:report.pdf")
    with pytest.raises(ReportSpecError, match="no path after md:"):
        parse_report_spec("md:")
