"""Positions and excerpts inside model output, rendered so a person can read them in one line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Control characters (except tab) and lone surrogates would garble a terminal or a JSON report.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(s: str) -> str:
    """`s` with newlines shown as ⏎ and other control characters escaped, on one line."""
    s = s.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else "\ufffd", s)


def shorten(s: str, width: int = 60) -> str:
    """`s` made printable and cut to `width` characters with an ellipsis."""
    s = printable(s)
    return s if len(s) <= width else s[: width - 1] + "…"


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of offset `pos` in `text`."""
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def excerpt(text: str, start: int, end: int | None = None, width: int = 30) -> str:
    """The span `text[start:end]` with up to `width` characters of context on each side."""
    end = start if end is None else end
    lo, hi = max(0, start - width), min(len(text), end + width)
    core = text[start:end]
    if len(core) > 2 * width + 20:
        core = core[:width + 10] + "…" + core[-(width + 10):]
    return ("…" if lo > 0 else "") + printable(text[lo:start] + core + text[end:hi]) + (
        "…" if hi < len(text) else "")


def caret(text: str, pos: int, width: int = 60) -> str:
    """The line holding offset `pos`, cut to about `width` characters around it, and a caret
    under the offending character (two lines)."""
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end < 0 else line_end
    lo = max(line_start, pos - width // 2)
    hi = min(line_end, lo + width)
    prefix = "…" if lo > line_start else ""
    suffix = "…" if hi < line_end else ""
    shown = prefix + printable(text[lo:pos])
    return f"{shown}{printable(text[pos:hi])}{suffix}\n{' ' * len(shown)}^"


@dataclass(frozen=True, slots=True)
class Finding:
    """A verdict from the pure matching functions, before it becomes a CheckResult."""

    status: str
    """`pass`, `fail`, or `error` (the expectation itself is broken, e.g. a bad regex)."""
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, reason: str, **evidence: Any) -> Finding:
        return cls("pass", reason, evidence)

    @classmethod
    def fail(cls, reason: str, **evidence: Any) -> Finding:
        return cls("fail", reason, evidence)

    @classmethod
    def error(cls, reason: str, **evidence: Any) -> Finding:
        return cls("error", reason, evidence)
