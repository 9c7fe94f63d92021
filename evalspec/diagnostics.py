"""Diagnostics: every error and warning carries a span, a message and, where one helps, a hint.

They are collected, never raised one by one, so a compile reports everything at once, in the
`file:line:col: error: message` form that editors and terminals make clickable.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from .source import SourceFile, Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    span: Span
    message: str
    hint: str | None = None

    def render(self, sources: dict[str, SourceFile] | None = None) -> str:
        head = f"{self.span}: {self.severity.value}: {self.message}"
        lines = [head]
        source = (sources or {}).get(self.span.file)
        if source is not None:
            text = source.line_text(self.span.line)
            if text:
                one_line = self.span.end_line == self.span.line
                width = max(1, self.span.end_col - self.span.col if one_line
                            else len(text) - self.span.col + 1)
                lead = "".join(c if c == "\t" else " " for c in text[: self.span.col - 1])
                lines.append(f"  {text}")
                lines.append(f"  {lead}{'^' * width}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


@dataclass
class Diagnostics:
    """A collector: analysis passes add to it and go on, so all errors come out at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, span: Span, message: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.ERROR, span, message, hint))

    def warning(self, span: Span, message: str, hint: str | None = None) -> None:
        self.items.append(Diagnostic(Severity.WARNING, span, message, hint))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def sorted(self) -> list[Diagnostic]:
        seen: set[tuple] = set()
        out = []
        for d in sorted(self.items, key=lambda d: (d.span.file, d.span.line, d.span.col,
                                                    d.severity != Severity.ERROR, d.message)):
            key = (d.span, d.severity, d.message)
            if key not in seen:
                seen.add(key)
                out.append(d)
        return out


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None


def render(diagnostics: Iterable[Diagnostic], sources: dict[str, SourceFile] | None = None) -> str:
    return "\n".join(d.render(sources) for d in diagnostics)


class SpecError(Exception):
    """Raised by a stage that cannot go on; carries the diagnostics gathered so far."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("\n".join(str(d.span) + ": " + d.message for d in diagnostics))
        self.diagnostics = diagnostics
