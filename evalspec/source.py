"""Source files and spans: where every node and every diagnostic points."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple


class Span(NamedTuple):
    """Immutable like the nodes that carry it; a named tuple because a large spec makes one
    per token, and a tuple is built several times faster than a frozen dataclass."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @classmethod
    def point(cls, file: str, line: int, col: int, width: int = 1) -> Span:
        return cls(file, line, col, line, col + width)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    """The resolved path, used to find the files it references."""
    display: str
    """How messages name the file: relative to where the user ran the command."""
    text: str

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def line_text(self, line: int) -> str:
        lines = self.lines
        return lines[line - 1] if 0 < line <= len(lines) else ""

    @classmethod
    def read(cls, path: Path, display: str | None = None) -> SourceFile:
        return cls(path, display or str(path), path.read_text(encoding="utf-8"))


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when it is inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
