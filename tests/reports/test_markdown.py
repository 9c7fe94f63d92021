"""The Markdown report: the seed article's comparison, rendered and read back as HTML by a real
Markdown parser (markdown-it, which rich already depends on) with raw HTML allowed, the most
permissive setting a renderer can have."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from evalspec.reports import build_report
from evalspec.reports import markdown as md_report

from ._data import HOSTILE, result

PARSER = MarkdownIt("commonmark", {"html": True}).enable("table")


def _section(md: str, title: str) -> str:
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 4)
    return md[start: end if end > 0 else None]


def test_seed_comparison_per_scenario_with_evidence(seed):
    md = md_report.render(build_report([seed]))
    assert md.startswith("# specs/seed.eval: llama vs gpt4o\n")
    assert re.findall(r"^#### (S\d):", md, re.M) == [f"S{i}" for i in range(1, 9)]
    assert re.findall(r"^### (\S+)$", _section(md, "Scenarios"), re.M) == [
        "math", "code", "tool\\_use", "extraction", "writing"]
    # S1: each model's verdict and the deciding evidence.
    assert ('| llama | ❌ fail | choice \\["9.11", "9.9"\\] == "9.9": the answer concludes '
            '"9.11", expected "9.9" |') in md
    assert '| gpt4o | ✅ pass | 2 checks passed: the answer concludes "9.9" |' in md
    # S3: the code run's finding and the judge's reasoning; S5: the tool-call trace.
    assert "the display did not respond" in md
    assert "judge reasoning: _The game opens a window" in md
    assert ("`calculate_factorial(n=10) → 3628800` → `calculate_factorial(n=8) → 40320` → "
            "`calculate_gcd(a=10, b=8) → 2`") in md
    # S8: the pairwise verdict; S7: the tie where the judge's two orders disagreed.
    assert ("Pairwise (rubrics.creative\\_writing, llama vs gpt4o): **gpt4o** preferred; "
            "both orders agreed.") in md
    assert ("Pairwise (rubrics.extraction\\_quality, llama vs gpt4o): tie; the two orders "
            "disagreed.") in md


def test_summary_statistics_and_verdict(seed):
    md = md_report.render(build_report([seed]))
    summary = _section(md, "Summary")
    assert "| code | 0/1 (0%) | 2.00 | 1/1 (100%) | 4.00 |" in summary
    assert ("| **All** | **5/8 (62% [25–88%])** | 3.00 [2.00, 4.00] | **7/8 (88% [62–100%])** "
            "| 4.67 [4.00, 5.00] |") in summary
    stats = _section(md, "Paired statistics")
    assert ("| McNemar exact (pass/fail) | 2 discordant pair(s): llama 0, gpt4o 2; no "
            "significant difference (p = 0.50, α = 0.05) |") in stats
    assert "| Wilcoxon signed-rank (judge scores) | mean 3.00 vs 4.67;" in stats
    assert "position consistency 50% (1/2)" in stats
    assert "- ⚠️ pass/fail: too few discordant pairs (2) to tell the models apart" in stats
    verdict = _section(md, "Overall verdict")
    assert ("**gpt4o ahead, but no significant difference: gpt4o 7/8 vs llama 5/8 passed "
            "(difference +25 pp, 95% CI \\[+0, +62\\])") in verdict


def test_renders_as_tables_in_a_real_parser(seed):
    html = PARSER.render(md_report.render(build_report([seed])))
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    # Summary (1 + 6), 8 case tables (1 + 2 each), the statistics table (1 + 5).
    assert len(rows) == 7 + 8 * 3 + 6
    assert "<td>choice [&quot;9.11&quot;, &quot;9.9&quot;] == &quot;9.9&quot;: the answer" in html


def test_hostile_output_cannot_break_out(seed):
    r = result(seed, "math/S1", "llama")
    r["response"]["text"] = HOSTILE
    r["checks"][0]["reason"] = HOSTILE
    r["checks"][0]["label"] = HOSTILE
    r["title"] = HOSTILE
    md = md_report.render(build_report([seed]))
    html = PARSER.render(md)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    # The S1 table still has three cells per row, pipes and all.
    s1 = html[html.index("math/S1"):]
    s1_rows = re.findall(r"<tr>(.*?)</tr>", s1[: s1.index("</table>")], re.S)
    assert [row.count("<td>") + row.count("<th>") for row in s1_rows] == [3, 3, 3]
    # The answer's own ``` cannot close the fence around it.
    assert "````text\n<script>window.__pwned = 1</script>" in md


def test_errors_and_single_model(seed):
    r = result(seed, "math/S2", "gpt4o")
    r.update(status="error", error="HTTP 500 after 5 attempts", response=None, checks=[])
    seed["results"] = [x for x in seed["results"] if x["model"] == "gpt4o"]
    seed["pairwise"] = []
    md = md_report.render(build_report([seed]))
    assert "| gpt4o | ⚠️ error | model call failed: HTTP 500 after 5 attempts |" in md
    assert "## Paired statistics" not in md
    assert "**gpt4o: 6/7 passed (86% \\[57–100%\\]), 1 error(s)**" in md
    assert "| **All** | **6/7 (86% [57–100%]) + 1 error(s), 0 unscored** |" in md
