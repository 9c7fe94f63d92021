"""JUnit XML: one testcase per case × model (× sample when a case has several).

CI systems read this format everywhere. A `fail` becomes <failure>, an `error` (the model call
or a check could not run) and an `unscored` judge verdict become <error>: neither is a pass,
and neither is the model's wrong answer. Model output goes into <system-out>, stripped of the
characters XML 1.0 cannot carry (NUL and most control characters) so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..outcome import Status
from .model import CaseRow, Cell, CheckView, Report

# XML 1.0 allows \t \n \r and everything from U+0020 up, except surrogates and U+FFFE/U+FFFF.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_OUT_LIMIT = 20_000


def xml_text(value: object) -> str:
    return _INVALID_XML.sub("\ufffd", str(value))


def _failure_text(cell: Cell) -> str:
    lines = []
    if cell.error:
        lines.append(f"model call failed: {cell.error}")

    def walk(check: CheckView, depth: int) -> None:
        score = f" (score {check.score:g})" if check.score is not None else ""
        lines.append(f"{'  ' * depth}[{check.status.value}] {check.title}{score}: {check.reason}")
        for key, value in check.highlights(4):
            if key != "score":
                lines.append(f"{'  ' * depth}    {key}: {value}")
        if check.reasoning:
            lines.append(f"{'  ' * depth}    judge reasoning: {check.reasoning}")
        for child in check.children:
            walk(child, depth + 1)

    for check in cell.checks:
        walk(check, 0)
    if cell.tool_trace:
        lines.append("tool calls: " + " ; ".join(cell.tool_trace))
    return "\n".join(lines)


def _testcase(parent: ET.Element, case: CaseRow, cell: Cell, samples: int,
              source: str) -> Status:
    name = f"{case.case_id} [{cell.model}]" + (f" #{cell.sample}" if samples > 1 else "")
    latency = (cell.response or {}).get("latency_ms") or 0
    el = ET.SubElement(parent, "testcase", {
        "classname": xml_text(f"evalspec.{case.suite}"), "name": xml_text(name),
        "time": f"{float(latency) / 1000:.3f}",
    })
    if source:
        el.set("file", xml_text(source))
    if cell.status is not Status.PASS:
        tag = "failure" if cell.status is Status.FAIL else "error"
        ET.SubElement(el, tag, {"message": xml_text(cell.summary[:1000]),
                                "type": cell.status.value}).text = xml_text(_failure_text(cell))
    if cell.answer:
        answer = cell.answer
        if len(answer) > _OUT_LIMIT:
            answer = answer[:_OUT_LIMIT] + f"\n… ({len(cell.answer) - _OUT_LIMIT} more characters)"
        ET.SubElement(el, "system-out").text = xml_text(answer)
    return cell.status


def render(report: Report) -> str:
    root = ET.Element("testsuites", {"name": "evalspec"})
    source = ", ".join(sorted({r.source for r in report.runs if r.source}))
    timestamp = next((r.started_at for r in report.runs if r.started_at), None)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    suites: dict[str, ET.Element] = {}
    counts: dict[str, dict[str, float]] = {}
    for case in report.cases:
        suite = suites.get(case.suite)
        if suite is None:
            suite = ET.SubElement(root, "testsuite", {"name": xml_text(case.suite)})
            if timestamp:
                suite.set("timestamp", xml_text(timestamp))
            props = ET.SubElement(suite, "properties")
            for run in report.runs:
                ET.SubElement(props, "property", {"name": "run_id", "value": xml_text(run.run_id)})
            suites[case.suite] = suite
            counts[case.suite] = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
        c = counts[case.suite]
        for model in report.models:
            cells = case.cells.get(model, ())
            for cell in cells:
                status = _testcase(suite, case, cell, len(cells), source)
                c["tests"] += 1
                c["failures"] += status is Status.FAIL
                c["errors"] += status in (Status.ERROR, Status.UNSCORED)
                c["time"] += float((cell.response or {}).get("latency_ms") or 0) / 1000
    for name, suite in suites.items():
        c = counts[name]
        for key in ("tests", "failures", "errors"):
            suite.set(key, str(int(c[key])))
            totals[key] += int(c[key])
        suite.set("skipped", "0")
        suite.set("time", f"{c['time']:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
