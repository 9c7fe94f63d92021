"""Find the code in a model's answer: fenced blocks, their language and file name.

Markdown is parsed with markdown-it-py (CommonMark), so fences inside lists and block quotes,
`~~~` fences, longer fences around shorter ones and an answer cut off inside a fence all come
out the way a Markdown viewer would show them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt

__all__ = ["CodeBlock", "Selection", "find_blocks", "looks_like_python", "select_block"]

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3", "python2", "sage"})
_MAX_TEXT = 4_000_000
"""Answers longer than this are cut before parsing: nobody writes a 4 MB program in a chat."""

_FILENAME = re.compile(r"(?<![\w./-])([\w][\w.-]*(?:/[\w.-]+)*\.[A-Za-z][A-Za-z0-9]{0,7})(?![\w/])")
_ATTR_NAME = re.compile(r"""(?:title|file|filename|name)\s*[=:]\s*["']?([^"'\s]+)""", re.I)


@dataclass(frozen=True, slots=True)
class CodeBlock:
    code: str
    language: str
    """The first word of the fence's info string, lowercased; "" when untagged."""
    name: str | None
    """A file name from the info string (`python title=tetris.py`) or the line just before
    the fence (`tetris.py:`, `**tetris.py**`)."""
    index: int
    """Position among the answer's blocks, from 0."""
    line: int
    """The answer's line (from 1) where the code starts."""

    def describe(self) -> str:
        tag = f"```{self.language}" if self.language else "untagged"
        name = f" {self.name}" if self.name else ""
        n = len(self.code.splitlines())
        return f"block {self.index + 1} ({tag}{name}, line {self.line}, {n} lines)"


@dataclass(frozen=True, slots=True)
class Selection:
    code: str
    how: str
    """How the code was chosen, for evidence: `the largest of 2 python blocks: block 2 (...)`."""
    block: CodeBlock | None
    candidates: int

    def evidence(self) -> dict[str, object]:
        b = self.block
        return {"how": self.how, "candidates": self.candidates,
                "language": b.language if b else None, "name": b.name if b else None,
                "line": b.line if b else None, "code_lines": len(self.code.splitlines())}


@cache
def _parser() -> MarkdownIt:
    # Only block structure matters; skipping inline parsing makes big answers cheap.
    md = MarkdownIt("commonmark")
    md.disable("inline", ignoreInvalid=True)
    return md


def find_blocks(text: str) -> list[CodeBlock]:
    text = text[:_MAX_TEXT].replace("\r\n", "\n").replace("\x00", "\ufffd")
    lines = text.split("\n")
    blocks: list[CodeBlock] = []
    for tok in _parser().parse(text):
        if tok.type not in ("fence", "code_block") or tok.map is None:
            continue
        info = tok.info.strip() if tok.type == "fence" else ""
        words = info.split()
        language = words[0].lower().strip("{}.") if words else ""
        name = _name_from_info(words) or _name_from_line(lines, tok.map[0])
        if language and _FILENAME.fullmatch(language) and not name:
            # ```tetris.py: the tag is a file name, the language its extension.
            name, language = words[0], _language_of(words[0])
        start = tok.map[0] + (2 if tok.type == "fence" else 1)
        blocks.append(CodeBlock(tok.content, language, name, len(blocks), start))
    return blocks


def _language_of(filename: str) -> str:
    return "python" if filename.lower().endswith((".py", ".pyw")) else ""


def _name_from_info(words: list[str]) -> str | None:
    rest = " ".join(words[1:])
    m = _ATTR_NAME.search(rest)
    if m:
        return m.group(1)
    for w in words[1:]:
        if _FILENAME.fullmatch(w):
            return w
    return None


def _name_from_line(lines: list[str], fence_line: int) -> str | None:
    """A short line right before the fence that names a file: `tetris.py:`, `# main.py`."""
    i = fence_line - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i < 0 or fence_line - i > 2:
        return None
    line = lines[i].strip()
    if len(line) > 80:
        return None
    names = _FILENAME.findall(line.strip("*_`#:> "))
    if len(names) == 1 and (line.rstrip("*_` ").endswith(":") or len(line.split()) <= 3):
        return names[0]
    return None


def looks_like_python(code: str) -> bool:
    """Parses as Python and is more than a stray word or sentence fragment."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    simple = (ast.Expr,)
    return any(not isinstance(node, simple) or isinstance(node.value, ast.Call)
               for node in tree.body)


def _is_python(block: CodeBlock) -> bool:
    if block.language in PYTHON_TAGS:
        return True
    if block.name and block.name.lower().endswith((".py", ".pyw")):
        return True
    return not block.language and looks_like_python(block.code)


def select_block(text: str, language: str = "python", block: str = "auto") -> Selection | None:
    """Pick the code to run. `block` is `auto`, `largest`, a language tag or a file name.

    auto: the largest block in the language (untagged blocks count when they parse as Python);
    without any block, the whole answer when it parses as Python.
    """
    blocks = find_blocks(text)
    want = block.strip() or "auto"
    if want not in ("auto", "largest") and ("." in want or "/" in want):
        named = [b for b in blocks if b.name and _same_file(b.name, want)]
        if not named:
            return None
        b = max(named, key=lambda b: len(b.code))
        return Selection(b.code, f"the block named {want}: {b.describe()}", b, len(named))
    if want not in ("auto", "largest"):
        tagged = [b for b in blocks if b.language == want.lower()]
        return _largest(tagged, f"```{want}")
    if language.lower() in PYTHON_TAGS | {"python"}:
        candidates = [b for b in blocks if _is_python(b)]
    else:
        candidates = [b for b in blocks if b.language == language.lower()]
    chosen = _largest(candidates, language)
    if chosen is not None or blocks:
        return chosen
    body = text[:_MAX_TEXT].strip()
    if language.lower() in PYTHON_TAGS and body and looks_like_python(body):
        return Selection(body, "the whole answer (it has no code block but parses as Python)",
                         None, 1)
    return None


def _largest(blocks: list[CodeBlock], what: str) -> Selection | None:
    blocks = [b for b in blocks if b.code.strip()]
    if not blocks:
        return None
    b = max(blocks, key=lambda b: (len(b.code), -b.index))
    if len(blocks) == 1:
        how = f"the only {what} block: {b.describe()}"
    else:
        how = f"the largest of {len(blocks)} {what} blocks: {b.describe()}"
    return Selection(b.code, how, b, len(blocks))


def _same_file(name: str, want: str) -> bool:
    a, b = name.lower().strip("./"), want.lower().strip("./")
    return a == b or a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]
