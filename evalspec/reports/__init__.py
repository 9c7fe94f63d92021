"""Reports: terminal tables, Markdown, JSON, JUnit XML and a self-contained HTML page.

All of them render one `Report` (model.py), built from results documents (docs/results.md).
Renderer modules are imported when used, so `evalspec run` pays nothing for formats it does
not write.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .model import GROUP_BY_HELP, Report, build_report

__all__ = ["FORMATS", "GROUP_BY_HELP", "Report", "ReportSpecError", "build_report",
           "parse_report_spec", "render", "write_reports"]

FORMATS: Mapping[str, str] = {
    "terminal": "terminal", "text": "terminal", "txt": "terminal",
    "md": "markdown", "markdown": "markdown",
    "json": "jsonreport",
    "junit": "junit", "xml": "junit",
    "html": "html",
}
"""Format names (and aliases) to the module that renders them."""

_BY_SUFFIX = {".txt": "terminal", ".md": "md", ".json": "json", ".xml": "junit", ".html": "html",
              ".htm": "html"}


class ReportSpecError(ValueError):
    """A `--report FORMAT:PATH` argument that cannot be used."""


def render(report: Report, fmt: str) -> str:
    """The report as text in format `fmt` (a key of FORMATS)."""
    try:
        module = FORMATS[fmt]
    except KeyError:
        raise ReportSpecError(
            f"unknown report format {fmt!r}; choose one of {', '.join(sorted(FORMATS))}"
        ) from None
    return importlib.import_module(f"{__name__}.{module}").render(report)


def parse_report_spec(spec: str) -> tuple[str, Path]:
    """`FORMAT:PATH` (or a bare PATH whose suffix names the format) -> (format, path).

    Check these before a run starts, so a typo does not surface after an hour of model calls.
    """
    fmt, sep, path = spec.partition(":")
    if sep and fmt.lower() in FORMATS:
        if not path:
            raise ReportSpecError(f"--report {spec!r}: no path after {fmt}:")
        return fmt.lower(), Path(path)
    guessed = _BY_SUFFIX.get(Path(spec).suffix.lower())
    if guessed and (not sep or len(fmt) == 1):   # a bare path, or a Windows drive letter
        return guessed, Path(spec)
    raise ReportSpecError(
        f"--report {spec!r}: expected FORMAT:PATH with FORMAT one of "
        f"{', '.join(sorted(FORMATS))} (e.g. html:report.html), or a path ending in "
        f"{', '.join(sorted(_BY_SUFFIX))}")


def write_reports(results: Sequence[Mapping[str, Any]], specs: Sequence[str], *,
                  group_by: str = "suite", base_dir: Path | None = None) -> list[Path]:
    """Render `results` once per `FORMAT:PATH` spec and write each file; returns the paths.

    This is what `evalspec run --report FORMAT:PATH` (repeatable) calls at the end of a run.
    Relative paths are taken from `base_dir` (the project's folder for paths that come from
    evalspec.toml), else from the working directory.
    """
    parsed = [parse_report_spec(s) for s in specs]
    if not parsed:
        return []
    report = build_report(list(results), group_by=group_by)
    written = []
    for fmt, path in parsed:
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report, fmt), encoding="utf-8")
        written.append(path)
    return written
