"""An article-style Markdown comparison: per scenario, per model, a verdict with its evidence.

Model output is untrusted: every piece of it goes through `inline()` (table cells, prose) or
`fenced()` (a code fence longer than any backtick run inside), so an answer can neither break
the table nor inject HTML into a renderer that allows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .. import stats
from ..outcome import Status
from .model import CaseRow, Cell, CheckView, Comparison, ModelStats, Report, short_value

ICON = {Status.PASS: "✅ pass", Status.FAIL: "❌ fail", Status.ERROR: "⚠️ error",
        Status.UNSCORED: "❔ unscored"}
_ANSWER_LIMIT = 1500

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def inline(value: object, limit: int = 400) -> str:
    """One line of text safe inside a table cell or a paragraph."""
    text = short_value(value, limit).replace("&", "&amp;")
    return _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1),
                                                                    "\\" + m.group(1)), text)


def code_span(value: object, limit: int = 160) -> str:
    """Inline code: literal inside, so only backticks (and table pipes) need care."""
    text = short_value(value, limit).replace("`", "'").replace("|", "\\|")
    return f"`{text}`"


def fenced(text: str, lang: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _pass_text(m: ModelStats | None) -> str:
    if m is None or m.n == 0:
        return "—"
    if m.pass_rate.value is None:
        return f"{m.errors} error(s), {m.unscored} unscored"
    text = f"{m.passed}/{m.decided} ({stats.format_interval(m.pass_rate, percent=True)})"
    if m.errors or m.unscored:
        text += f" + {m.errors} error(s), {m.unscored} unscored"
    return text


def _score_text(m: ModelStats | None) -> str:
    if m is None or m.score.value is None:
        return "—"
    text = stats.format_interval(m.score)
    return f"{text} (0–1)" if m.score_normalised else text


def _summary(report: Report) -> list[str]:
    col = report.group_by.split(":")[0].capitalize()
    head = [col] + [f"{m} {k}" for m in report.models for k in ("pass", "judge")]
    lines = ["| " + " | ".join(inline(h) for h in head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for g in report.groups:
        cells = [inline(g.name)]
        for m in report.models:
            cells += [_pass_text(g.models.get(m)), _score_text(g.models.get(m))]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**All**"]
    for m in report.models:
        cells += [f"**{_pass_text(report.overall[m])}**", _score_text(report.overall[m])]
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def _evidence_bullets(check: CheckView, depth: int = 0) -> list[str]:
    pad = "  " * depth
    head = f"{pad}- {ICON[check.status]} {code_span(check.title)}"
    if check.reason:
        head += f": {inline(check.reason)}"
    out = [head]
    for key, value in check.highlights(4):
        if key == "score" or value in check.reason:
            continue
        out.append(f"{pad}  - {inline(key)}: {inline(value, 300)}")
    if check.reasoning:
        out.append(f"{pad}  - judge reasoning: _{inline(check.reasoning, 600)}_")
    for child in check.children:
        out += _evidence_bullets(child, depth + 1)
    return out


def _cell_details(cell: Cell, samples: int) -> list[str]:
    who = cell.model + (f" (sample {cell.sample})" if samples > 1 else "")
    out = [f"**{inline(who)}** — {ICON[cell.status]}"]
    if cell.error:
        out.append(f"- model call failed: {inline(cell.error)}")
    for check in cell.checks:
        out += _evidence_bullets(check)
    if cell.tool_trace:
        out.append("- tool calls: " + " → ".join(code_span(t, 120) for t in cell.tool_trace))
    if cell.answer:
        answer = cell.answer
        cut = len(answer) > _ANSWER_LIMIT
        out += ["", fenced(answer[:_ANSWER_LIMIT] + ("\n…" if cut else ""), "text")]
    return out


def _case(case: CaseRow, models: Iterable[str]) -> list[str]:
    tags = ", ".join(case.tags)
    lines = [f"#### {inline(case.label)}", "",
             code_span(case.case_id) + (f" · tags: {inline(tags)}" if tags else ""), "",
             "| Model | Verdict | Deciding evidence |", "|---|---|---|"]
    for m in models:
        for cell in case.cells.get(m, ()):
            who = m + (f" #{cell.sample}" if len(case.cells[m]) > 1 else "")
            lines.append(f"| {inline(who)} | {ICON[cell.status]} | {inline(cell.summary, 300)} |")
    for p in case.pairwise:
        if p.winner is None:
            text = f"unscored ({inline(p.reason)})"
        elif p.winner == "tie":
            text = "tie"
        else:
            text = f"**{inline(p.winner)}** preferred"
        consistency = {True: "both orders agreed", False: "the two orders disagreed",
                       None: "consistency unknown"}[p.consistent]
        lines += ["", f"Pairwise ({inline(p.rubric)}, {inline(p.model_a)} vs "
                      f"{inline(p.model_b)}): {text}; {consistency}."]
    details: list[str] = []
    for m in models:
        cells = case.cells.get(m, ())
        for cell in cells:
            details += ["", *_cell_details(cell, len(cells))]
    lines += ["", "<details><summary>Evidence and answers</summary>", *details, "",
              "</details>", ""]
    return lines


def _comparison(c: Comparison) -> list[str]:
    m = c.mcnemar
    lines = [f"### {inline(c.model_a)} vs {inline(c.model_b)}", "",
             "| Measure | Result |", "|---|---|",
             f"| Passed | {inline(c.model_a)} {c.pass_a}/{c.n}, {inline(c.model_b)} "
             f"{c.pass_b}/{c.n} |",
             f"| Pass-rate difference ({inline(c.model_b)} − {inline(c.model_a)}) | "
             f"{stats.format_interval(c.pass_diff, percent=True, signed=True)} "
             f"(paired bootstrap, 95%) |",
             f"| McNemar exact (pass/fail) | {m.informative} discordant pair(s): "
             f"{inline(c.model_a)} {m.a_better}, {inline(c.model_b)} {m.b_better}; "
             f"{inline(m.verdict)} |"]
    if c.scores:
        s = c.scores
        lines.append(f"| Wilcoxon signed-rank (judge scores) | mean {c.mean_score_a:.2f} vs "
                     f"{c.mean_score_b:.2f}; {s.informative} non-tied pair(s): "
                     f"{inline(c.model_a)} higher {s.a_better}, {inline(c.model_b)} higher "
                     f"{s.b_better}; {inline(s.verdict)} |")
    if c.record:
        r = c.record
        cons = ("—" if r.consistency is None
                else f"{r.consistency:.0%} ({r.consistent}/{r.judged})")
        lines.append(f"| Pairwise judge | {inline(c.model_b)} {r.wins_b} win(s), {r.ties} "
                     f"tie(s), {r.wins_a} loss(es); {r.unscored} unscored; position "
                     f"consistency {cons} |")
    lines.append("")
    lines += [f"- ⚠️ {inline(w)}" for w in c.warnings]
    return lines


def render(report: Report) -> str:
    out = [f"# {inline(report.title)}", ""]
    for run in report.runs:
        state = "complete" if run.complete else "**incomplete**"
        out.append(f"- Run {code_span(run.run_id)} of {code_span(run.source)}, started "
                   f"{inline(run.started_at)}, {state}")
    for m in report.models:
        info = report.model_info.get(m, {})
        ident = info.get("model_id") or info.get("provider") or ""
        out.append(f"- **{inline(m)}**: {inline(ident)}")
    if report.judge:
        out.append(f"- Judge: **{inline(report.judge)}**")
    out += ["", "## Summary", "", *_summary(report), "",
            "Pass rates count decided cases (pass or fail); errors and unscored results are "
            "listed apart. Intervals are 95% bootstrap intervals over cases; none is shown when "
            "every case came out the same.", ""]
    out += ["## Scenarios", ""]
    suite = None
    for case in report.cases:
        if case.suite != suite:
            suite = case.suite
            out += [f"### {inline(suite)}", ""]
        out += _case(case, report.models)
    if report.comparisons:
        out += ["## Paired statistics", ""]
        for c in report.comparisons:
            out += _comparison(c)
            out.append("")
    out += ["## Overall verdict", "", f"**{inline(report.verdict, 1000)}**", ""]
    if report.incomplete:
        out += [f"> ⚠️ incomplete run(s): {inline(', '.join(report.incomplete))}; the figures "
                "cover the results stored so far.", ""]
    return "\n".join(out)
