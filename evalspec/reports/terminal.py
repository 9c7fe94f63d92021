"""Terminal tables (rich): groups × models, the cases, the pairwise record, the statistics."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .. import stats
from ..outcome import Status
from .model import Comparison, ModelStats, Report, short_value

_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.ERROR: "magenta",
          Status.UNSCORED: "yellow"}
_MARK = {Status.PASS: "✔", Status.FAIL: "✘", Status.ERROR: "!", Status.UNSCORED: "?"}


def pass_cell(m: ModelStats | None) -> Text:
    if m is None or m.n == 0:
        return Text("—", style="dim")
    rate = m.pass_rate
    if rate.value is None:
        return Text(f"{m.errors} err, {m.unscored} unscored", style="magenta")
    style = "green" if rate.value >= 0.8 else "yellow" if rate.value >= 0.5 else "red"
    text = Text(f"{m.passed}/{m.decided} ", style=f"bold {style}")
    text.append(stats.format_interval(rate, percent=True), style=style)
    if m.errors or m.unscored:
        text.append(f" +{m.errors} err/{m.unscored} unsc", style="magenta")
    return text


def score_cell(m: ModelStats | None) -> Text:
    if m is None or m.score.value is None:
        return Text("—", style="dim")
    text = Text(stats.format_interval(m.score))
    if m.score_normalised:
        text.append(" (0–1)", style="dim")
    return text


def _summary_table(report: Report) -> Table:
    title = {"suite": "By suite", "case": "By case"}.get(report.group_by, "By tag")
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column(report.group_by.split(":")[0].capitalize(), style="bold")
    for m in report.models:
        table.add_column(f"{m} pass", justify="right")
        table.add_column(f"{m} judge", justify="right")
    for g in report.groups:
        row: list[Text | str] = [escape(g.name)]
        for m in report.models:
            row += [pass_cell(g.models.get(m)), score_cell(g.models.get(m))]
        table.add_row(*row)
    table.add_section()
    row = [Text("All", style="bold")]
    for m in report.models:
        row += [pass_cell(report.overall[m]), score_cell(report.overall[m])]
    table.add_row(*row)
    return table


def _cases_table(report: Report, width: int) -> Table:
    table = Table(title="Cases", title_justify="left", show_lines=True, expand=True)
    table.add_column("Case", style="bold", width=24, overflow="fold")
    per_model = max(24, (width - 24) // max(1, len(report.models)))
    for m in report.models:
        table.add_column(m, ratio=3, overflow="fold")
    for case in report.cases:
        row: list[Text] = [Text(short_value(case.label, 40))]
        for m in report.models:
            cells = case.cells.get(m, ())
            text = Text()
            for cell in cells:
                if text:
                    text.append("\n")
                prefix = f"#{cell.sample} " if len(cells) > 1 else ""
                text.append(f"{prefix}{_MARK[cell.status]} {cell.status.value}",
                            style=f"bold {_STYLE[cell.status]}")
                if cell.status is not Status.PASS or cell.judge_checks:
                    text.append(" " + short_value(cell.summary, per_model * 3))
            row.append(text if cells else Text("—", style="dim"))
        table.add_row(*row)
    return table


def _records_table(report: Report) -> Table | None:
    records = [r for r in report.records if r.wins_a + r.ties + r.wins_b + r.unscored]
    if not records:
        return None
    table = Table(title="Pairwise judge (win–tie–loss, both orders)", title_justify="left")
    for col in ("Pair", "Record", "Unscored", "Position consistency"):
        table.add_column(col, justify="left" if col == "Pair" else "right")
    for r in records:
        cons = "—" if r.consistency is None else f"{r.consistency:.0%} ({r.consistent}/{r.judged})"
        table.add_row(escape(f"{r.model_a} vs {r.model_b}"), r.text, str(r.unscored), cons)
    return table


def _comparison_lines(c: Comparison) -> list[Text]:
    lines = [Text(f"{c.model_a} vs {c.model_b}", style="bold")]
    m = c.mcnemar
    lines.append(Text(f"  pass/fail  McNemar exact: {m.informative} discordant pair(s) "
                      f"({c.model_a} {m.a_better}, {c.model_b} {m.b_better}) → {m.verdict}"))
    if c.pass_diff.value is not None:
        lines.append(Text(f"  pass rate  {c.model_b} − {c.model_a}: "
                          f"{stats.format_interval(c.pass_diff, percent=True, signed=True)}"))
    if c.scores:
        s = c.scores
        lines.append(Text(f"  judge      Wilcoxon signed-rank: {s.informative} non-tied pair(s) "
                          f"({c.model_a} higher {s.a_better}, {c.model_b} higher {s.b_better})"
                          f" → {s.verdict}"))
    for w in c.warnings:
        lines.append(Text(f"  ⚠ {w}", style="yellow"))
    return lines


def render_renderable(report: Report, width: int = 120) -> Group:
    parts: list = [Text(report.title, style="bold underline")]
    for run in report.runs:
        state = "complete" if run.complete else "INCOMPLETE"
        parts.append(Text(f"run {run.run_id} · {run.source} · {run.started_at or '?'} · {state}",
                          style="dim" if run.complete else "bold yellow"))
    if report.judge:
        parts.append(Text(f"judge: {report.judge}", style="dim"))
    parts += [Text(), _summary_table(report), Text(), _cases_table(report, width)]
    records = _records_table(report)
    if records is not None:
        parts += [Text(), records]
    if report.comparisons:
        parts += [Text(), Text("Paired statistics", style="bold underline")]
        for c in report.comparisons:
            parts += _comparison_lines(c)
    parts += [Text(), Text("Verdict: ", style="bold") + Text(report.verdict)]
    return Group(*parts)


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    console.print(render_renderable(report, console.width))


def render(report: Report, width: int = 120) -> str:
    """Plain text (no colour codes), for writing to a file."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False,
                      legacy_windows=False, emoji=False, highlight=False)
    console.print(render_renderable(report, width))
    return buf.getvalue()
