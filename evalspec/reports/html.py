"""A self-contained HTML report: one file, no network, every model output escaped.

The page is rendered by jinja2 with autoescaping on, from `templates/report.html.j2`, with its
CSS and script inline and its charts as inline SVG drawn in Python (svg.py). Model output is
hostile input: nothing from a results document is ever marked safe, so an answer holding
`<script>` shows as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2

from .. import __version__, stats
from ..outcome import Status
from . import svg
from .model import CheckView, Report, format_call, short_value

_TEXT_LIMIT = 100_000
"""Characters of an answer or an evidence string shown; the rest is cut with a note."""

_PROSE = ("reasoning", "explanation", "rationale")
_SECONDARY = frozenset({
    # Bookkeeping that explains how a verdict was reached rather than why: shown folded.
    "rubric_hash", "rubric_origin", "template", "template_hash", "truncated",
    "samples_requested", "samples_usable", "reference_shown", "samples", "mean", "median",
    "stdev", "min", "max", "score", "stdout_bytes", "stderr_bytes", "isolation", "network",
    "killed_leftovers", "notes", "signal", "memory_exceeded", "cpu_exceeded", "span",
    "verdicts", "conflicts", "tier", "abs_tol", "rel_tol",
})


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalspec.reports", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["interval"] = stats.format_interval
    env.filters["pvalue"] = stats.format_p
    env.filters["rate_color"] = svg.rate_color
    env.filters["cut"] = cut
    env.filters["call"] = format_call
    env.filters["short"] = short_value
    env.globals["evidence_items"] = evidence_items
    return env


def cut(text: Any, limit: int = _TEXT_LIMIT) -> str:
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit:,} more characters not shown]"


def _scalar(v: Any) -> bool:
    return isinstance(v, str | int | float) and not isinstance(v, bool)


def _score_of(v: Any) -> Any:
    """A criterion's number: itself, or the `mean` / `score` of its summary."""
    if _scalar(v):
        return v
    if isinstance(v, Mapping):
        for key in ("mean", "score"):
            if isinstance(v.get(key), int | float):
                return f"{v[key]:.3g}"
    return None


def _line(item: Mapping[str, Any]) -> str:
    return " · ".join(f"{k}: {short_value(v, 200)}" for k, v in item.items()
                      if v not in (None, "", [], {}))


def evidence_items(check: CheckView) -> list[dict[str, Any]]:
    """The evidence as display items: prose, a block of text, a list, a map of scores, or JSON
    (long JSON goes in a collapsed block)."""
    items = []
    facts = check.facts()
    reasoning = check.reasoning
    if reasoning and not any(isinstance(facts.get(k), str) for k in _PROSE):
        items.append({"key": "reasoning", "type": "prose", "value": cut(reasoning)})
    for key, value in facts.items():
        if value in (None, "", [], {}):
            continue
        if key in _PROSE and isinstance(value, str):
            items.append({"key": key, "type": "prose", "value": cut(value)})
        elif isinstance(value, str):
            multiline = "\n" in value.strip() or len(value) > 100
            items.append({"key": key, "type": "pre" if multiline else "code",
                          "value": cut(value)})
        elif isinstance(value, bool | int | float):
            items.append({"key": key, "type": "code", "value": json.dumps(value)})
        elif isinstance(value, Mapping) and all(
                _score_of(v) is not None and len(str(_score_of(v))) <= 40
                for v in value.values()):
            items.append({"key": key, "type": "chips",
                          "value": [(str(k), str(_score_of(v))) for k, v in value.items()]})
        elif isinstance(value, list) and all(_scalar(v) for v in value):
            shown = [short_value(v, 2000) for v in value[:200]]
            # A few short values read best on one line; long ones each get their own.
            kind = "inline" if sum(len(v) for v in shown) <= 100 else "list"
            items.append({"key": key, "type": kind, "value": shown})
        elif isinstance(value, list) and all(
                isinstance(v, Mapping) and len(_line(v)) <= 300 for v in value):
            items.append({"key": key, "type": "list", "value": [_line(v) for v in value[:200]]})
        else:
            text = cut(json.dumps(value, indent=2, ensure_ascii=False, default=str))
            items.append({"key": key, "type": "json" if len(text) > 400 else "pre",
                          "value": text, "lines": text.count("\n") + 1})
    for item in items:
        item["secondary"] = item["key"] in _SECONDARY
    return items


def render(report: Report) -> str:
    colors = svg.model_colors(report.models)
    statuses = [s.value for s in Status]
    status_counts = {s: 0 for s in statuses}
    for case in report.cases:
        for cells in case.cells.values():
            for cell in cells:
                status_counts[cell.status.value] += 1
    group_title = {"suite": "suite", "case": "case"}.get(report.group_by, "tag")
    charts = {
        "pass": svg.pass_rate_chart(report.groups, report.overall, report.models, colors,
                                    f"Pass rate per {group_title} and model"),
        "scores": svg.score_chart(report, colors),
    }
    return _env().get_template("report.html.j2").render(
        r=report, colors=colors, statuses=statuses, status_counts=status_counts,
        charts=charts, group_title=group_title, version=__version__,
        suites=list(dict.fromkeys(c.suite for c in report.cases)),
    )
