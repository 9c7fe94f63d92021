"""JSON in model output: find it, parse it, and say exactly where it breaks.

`extract_json(text)` looks, in order, at:

1. the whole answer (any JSON value, surrounding whitespace allowed);
2. fenced code blocks: ```json first, then any other fence whose content starts with `{`/`[`;
   when such fences exist the answer is judged by them alone;
3. JSON objects and arrays inside prose: each `{` or `[` is tried with the real parser, so braces
   inside strings need no special care. The longest value that parses wins (a citation like
   `[1]` never beats the payload). A broken document that the parser got well into beats
   smaller valid fragments, and is what the error describes.

Strict parsing is RFC 8259 through the standard library (NaN and Infinity rejected). Lenient
parsing (opt-in) accepts JSON5 through `pyjson5`: comments, trailing commas, single quotes,
unquoted keys, hexadecimal numbers. Errors carry the line and column in the answer and a caret
excerpt. Documents nested deeper than the parser's limits fail cleanly, never with a
RecursionError. Work is linear in the answer's size, with at most `MAX_TRIES` inline starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pyjson5

from .spans import caret, line_col

MAX_TRIES = 64
MAX_DEPTH = 512
# How far a bracket in prose may reach before it is taken for prose, not a document.
PROSE_WINDOW = 10_000
_JSONISH = re.compile(r"[:\"']")
_JSON_TAGS = {"json", "json5", "jsonc", "jsonl", "geojson"}
_FENCE = re.compile(r"^[ \t]{0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$", re.MULTILINE)
_OPENER = re.compile(r"[{\[]")


class JsonError(ValueError):
    """A syntax error at offset `pos` of the parsed string."""

    def __init__(self, message: str, pos: int, deep: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.deep = deep
        """The document is nested too deeply to parse."""


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    message: str
    line: int
    col: int
    pos: int
    caret: str
    where: str
    lenient_would_parse: bool = False

    def describe(self) -> str:
        return (f"invalid JSON at line {self.line}, col {self.col}: {self.message} "
                f"(in {self.where})")

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "col": self.col,
                "excerpt": self.caret, "where": self.where,
                "lenient_would_parse": self.lenient_would_parse}


@dataclass(frozen=True, slots=True)
class Extracted:
    """The outcome of looking for JSON in an answer: a value, or why there is none."""

    ok: bool
    value: Any = None
    where: str = ""
    """Where the JSON came from: "the whole answer", "the ```json block at line 3", ..."""
    start: int = 0
    end: int = 0
    lenient: bool = False
    """The value parsed only in lenient mode."""
    problem: SyntaxProblem | None = None
    reason: str = ""

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.where}
        if self.ok:
            out["span"] = [self.start, self.end]
            out["lenient"] = self.lenient
        if self.problem:
            out["syntax_error"] = self.problem.to_json()
        return out


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


_STRICT = json.JSONDecoder(parse_constant=_reject_constant)


def _hint(s: str, pos: int) -> str:
    """What a person most likely did wrong at `pos`, in JSON terms."""
    rest = s[pos:pos + 2]
    prev = s[:pos].rstrip()[-1:]
    if not s[pos:].strip():
        return " (the text ends early: is the JSON cut off?)"
    if rest[:1] in "}]" and prev == ",":
        return " (a trailing comma)"
    if rest[:1] == "'":
        return " (single quotes are not JSON)"
    if rest in ("//", "/*"):
        return " (comments are not JSON)"
    if rest[:1].isalpha() or rest[:1] == "_":
        return " (unquoted text)"
    return ""


def parse_strict(s: str, start: int = 0) -> tuple[Any, int]:
    """Parse one JSON value at `s[start:]` (leading whitespace allowed); return it and its end.
    Raises JsonError with an absolute offset."""
    idx = start
    while idx < len(s) and s[idx] in " \t\r\n":
        idx += 1
    try:
        return _STRICT.raw_decode(s, idx)
    except json.JSONDecodeError as exc:
        raise JsonError(exc.msg + _hint(s, exc.pos), exc.pos) from None
    except _NonFinite as exc:
        at = s.find(str(exc), idx)
        raise JsonError(f"{exc} is not valid JSON (JSON has no NaN or Infinity)",
                        max(at, idx)) from None
    except RecursionError:
        raise JsonError("nested too deeply to parse (more than about 900 levels)", idx,
                        deep=True) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise JsonError(str(exc), idx) from None


def parse_document(s: str, lenient: bool = False) -> Any:
    """Parse all of `s` as one JSON (or, with `lenient`, JSON5) document."""
    try:
        value, end = parse_strict(s)
        rest = s[end:]
        if rest.strip():
            raise JsonError("extra data after the JSON value", end + len(rest) - len(rest.lstrip()))
        return value
    except JsonError:
        if not lenient:
            raise
    return parse_json5(s)


_NEAR = re.compile(r"\s*near (\d+)")
_B_NAME = re.compile(r"b'([^']*)'")
_CODEPOINT = re.compile(r"U\+([0-9a-fA-F]{4,6})")
_NAMES = {"comma": "','", "colon": "':'", "JSON5Value": "a value", "JSON5String": "a string",
          "JSON5Identifier": "a key"}


def parse_json5(s: str, some: bool = False) -> Any:
    """Parse JSON5 with pyjson5, turning its errors into JsonError with a readable message."""
    try:
        return pyjson5.decode(s, maxdepth=MAX_DEPTH, some=some)
    except pyjson5.Json5NestingTooDeep:
        raise JsonError(f"nested more than {MAX_DEPTH} levels deep", 0, deep=True) from None
    except pyjson5.Json5EOF as exc:
        msg = _humanise(str(exc.args[0]) if exc.args else str(exc))
        raise JsonError(f"unexpected end of input: {msg}", len(s.rstrip())) from None
    except pyjson5.Json5Exception as exc:
        raw = str(exc.args[0]) if exc.args else str(exc)
        m = _NEAR.search(raw)
        pos = max(0, int(m.group(1)) - 1) if m else 0
        raise JsonError(_humanise(raw), min(pos, len(s))) from None
    except RecursionError:
        raise JsonError("nested too deeply to parse", 0, deep=True) from None


def _humanise(msg: str) -> str:
    msg = _NEAR.sub("", msg)
    msg = _B_NAME.sub(lambda m: _NAMES.get(m.group(1), m.group(1)), msg)
    return _CODEPOINT.sub(lambda m: repr(chr(int(m.group(1), 16))), msg)


def _parse_at(text: str, start: int, end: int, lenient: bool) -> tuple[Any, bool]:
    """Parse `text[start:end]` as a whole document; (value, needed_lenient). JsonError carries
    an offset into `text`."""
    chunk = text[start:end]
    try:
        return parse_document(chunk, False), False
    except JsonError as strict_error:
        if not lenient:
            raise JsonError(strict_error.message, start + strict_error.pos,
                            strict_error.deep) from None
        try:
            return parse_json5(chunk), True
        except JsonError as exc:
            raise JsonError(exc.message, start + exc.pos, exc.deep) from None


def _problem(text: str, err: JsonError, where: str, lenient: bool, chunk: tuple[int, int]
             ) -> SyntaxProblem:
    # An error at the very end points at nothing visible; show the last character instead.
    pos = min(err.pos, chunk[0] + len(text[chunk[0]:chunk[1]].rstrip()))
    line, col = line_col(text, pos)
    would = False
    if not lenient:
        try:
            parse_json5(text[chunk[0]:chunk[1]])
            would = True
        except JsonError:
            pass
    return SyntaxProblem(err.message, line, col, pos, caret(text, pos), where, would)


def fences(text: str) -> list[tuple[str, int, int]]:
    """Fenced code blocks as (info string, content start, content end), in order. An unclosed
    fence runs to the end of the text, as in CommonMark (truncated answers)."""
    out: list[tuple[str, int, int]] = []
    opener: re.Match[str] | None = None
    for m in _FENCE.finditer(text):
        if opener is None:
            opener = m
            continue
        f, o = m["fence"], opener["fence"]
        if f[0] == o[0] and len(f) >= len(o) and not m["info"].strip():
            out.append((opener["info"].strip(), min(opener.end() + 1, len(text)), m.start()))
            opener = None
    if opener is not None:
        out.append((opener["info"].strip(), min(opener.end() + 1, len(text)), len(text)))
    return out


def _balanced_end(text: str, start: int, lenient: bool, limit: int | None = None
                  ) -> tuple[int, bool]:
    """Where the bracket opened at `start` closes (exclusive), skipping strings (and, when
    lenient, comments and single-quoted strings), and whether it closed properly before
    `limit` characters. A mismatched closer ends it."""
    token = _LENIENT_TOKEN if lenient else _STRICT_TOKEN
    stop = len(text) if limit is None else min(len(text), start + limit)
    stack: list[str] = []
    for m in token.finditer(text, start, stop):
        t = m.group()
        if t in "{[":
            stack.append("}" if t == "{" else "]")
        elif t in "}]":
            if not stack or stack.pop() != t:
                return m.end(), False
            if not stack:
                return m.end(), True
    return stop, False


_STRICT_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[{}\[\]]', re.DOTALL)
_LENIENT_TOKEN = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"?|\'[^\'\\]*(?:\\.[^\'\\]*)*\'?|//[^\n]*|/\*.*?(?:\*/|\Z)|[{}\[\]]',
    re.DOTALL)


def _block_name(info: str, line: int) -> str:
    tag = info.split()[0] if info.split() else ""
    return f"the ```{tag} block at line {line}"


def extract_json(text: str, lenient: bool = False) -> Extracted:
    """Find and parse the JSON value an answer gives; see the module docstring for the order."""
    if not text.strip():
        return Extracted(False, reason="the answer is empty")
    # 1. The whole answer.
    try:
        value, needed = _parse_at(text, 0, len(text), lenient)
        lead = len(text) - len(text.lstrip())
        return Extracted(True, value, "the whole answer", lead, len(text.rstrip()), needed)
    except JsonError:
        pass

    # 2. Fenced blocks: JSON-tagged ones, then others that look like JSON.
    blocks = fences(text)
    tagged = [b for b in blocks if (b[0].split() or [""])[0].lower() in _JSON_TAGS]
    looks = [b for b in blocks if b not in tagged and text[b[1]:b[2]].lstrip()[:1] in ("{", "[")]
    first_error: SyntaxProblem | None = None
    for info, lo, hi in tagged + looks:
        where = _block_name(info, line_col(text, lo)[0] - 1)
        try:
            value, needed = _parse_at(text, lo, hi, lenient)
            lead = len(text[lo:hi]) - len(text[lo:hi].lstrip())
            return Extracted(True, value, where, lo + lead, lo + len(text[lo:hi].rstrip()), needed)
        except JsonError as exc:
            if first_error is None:
                first_error = _problem(text, exc, where, lenient, (lo, hi))
    if first_error is not None:
        return Extracted(False, problem=first_error, where=first_error.where,
                         reason=first_error.describe())

    # 3. Objects and arrays inside prose.
    return _inline(text, lenient)


def _inline_name(text: str, i: int) -> str:
    line, col = line_col(text, i)
    return f"the {'object' if text[i] == '{' else 'array'} starting at line {line}, col {col}"


def _inline(text: str, lenient: bool) -> Extracted:
    found: list[Extracted] = []
    broken: list[tuple[int, int, JsonError]] = []
    pos = 0
    for _ in range(MAX_TRIES):
        m = _OPENER.search(text, pos)
        if m is None:
            break
        i = m.start()
        where = _inline_name(text, i)
        try:
            value, end = parse_strict(text, i)
            found.append(Extracted(True, value, where, i, end))
            pos = end
            continue
        except JsonError as exc:
            err = exc
        deep = err.deep
        if lenient and not deep:
            try:
                value = parse_json5(text[i:], some=True)
                end = _balanced_end(text, i, True)[0]
                found.append(Extracted(True, value, where, i, end, lenient=True))
                pos = end
                continue
            except JsonError:
                pass
        # A failure that got past a key or an element, or a bracketed span holding quotes or
        # colons, is a broken document: its fragments are not answers, so skip over it.
        # Anything else (`{x}`, `[sic]`, an unclosed smiley) is prose.
        if deep:
            broken.append((i, len(text), err))
            break
        if ":" in text[i:err.pos] or "," in text[i:err.pos]:
            end = _balanced_end(text, i, lenient)[0]
            broken.append((i, end, err))
            pos = end
            continue
        end, closed = _balanced_end(text, i, lenient, limit=PROSE_WINDOW)
        if closed and _JSONISH.search(text, i, end):
            broken.append((i, end, err))
            pos = end
        else:
            pos = i + 1

    best = max(found, key=lambda e: e.end - e.start, default=None)
    worst = max(broken, key=lambda b: b[1] - b[0], default=None)
    if best is not None and (worst is None or best.end - best.start >= worst[1] - worst[0]):
        return best
    if worst is not None:
        i, end, err = worst
        p = _problem(text, err, _inline_name(text, i), lenient, (i, end))
        return Extracted(False, problem=p, where=p.where, reason=p.describe())
    return Extracted(False, reason=f"no JSON object or array found in the answer "
                                   f"({len(text):,} chars)")
