"""Every ```eval block in the docs compiles, and so does every spec under specs/.

A doc example is compiled on its own, as if it were a file in specs/examples/, so that the
data files it names (tools.py, capitals.csv, schemas/...) resolve there. Blocks that are only
fragments use another info string (`text`) and are not compiled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from evalspec.compiler import CompileResult, compile_paths, compile_source
from evalspec.diagnostics import render

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "language.md", ROOT / "docs" / "plan.md", ROOT / "README.md")
EXAMPLES = ROOT / "specs" / "examples"
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    """The line of the opening fence, for the test id and the failure message."""
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}"


def eval_blocks(markdown: str, doc: Path) -> list[Block]:
    """The fenced blocks whose info string is `eval`. A fence closes only on the same
    character repeated at least as often, as in CommonMark, so ``` inside ```` is text."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m.group(2), m.group(3), i + 1
        j = start
        while j < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$",
                                               lines[j]):
            j += 1
        if info == "eval":
            blocks.append(Block(doc, start, "\n".join(lines[start:j]) + "\n"))
        i = j + 1
    return blocks


def compile_block(block: Block, index: int) -> CompileResult:
    return compile_source(block.text, EXAMPLES / f"_doc_example_{index}.eval")


def problems(result: CompileResult) -> str:
    return render(result.errors, result.sources)


def _all_blocks() -> list[Block]:
    out: list[Block] = []
    for doc in DOCS:
        if doc.is_file():
            out.extend(eval_blocks(doc.read_text(encoding="utf-8"), doc))
    return out


BLOCKS = _all_blocks()


def test_the_language_reference_has_examples() -> None:
    # Guards against the extraction silently finding nothing (a renamed info string, say).
    in_reference = [b for b in BLOCKS if b.doc.name == "language.md"]
    assert len(in_reference) >= 20, f"only {len(in_reference)} eval blocks in language.md"


@pytest.mark.parametrize(("index", "block"), list(enumerate(BLOCKS)),
                         ids=[b.id for b in BLOCKS])
def test_doc_example_compiles(index: int, block: Block) -> None:
    result = compile_block(block, index)
    assert result.ok, (f"the eval block at {block.id} does not compile:\n{problems(result)}"
                       f"\n--- the block ---\n{block.text}")
    declares_cases = re.search(r"^\s*case\s", block.text, re.M) is not None
    assert result.plans or not declares_cases, \
        f"the eval block at {block.id} declares cases but produced no plan"


def test_every_spec_compiles() -> None:
    result = compile_paths([ROOT / "specs"])
    assert result.files_checked >= 2
    assert result.ok, problems(result)


def test_a_broken_example_is_caught() -> None:
    # The harness itself: a typo in a doc example must surface as a failure with its location.
    doc = ROOT / "docs" / "broken.md"
    markdown = ("Intro\n\n```text\nnot eval at all {\n```\n\n```eval\nsuite s {\n  case c {\n"
                '    prompt = "hi"\n    expect text contians "hi"\n  }\n}\n```\n')
    (block,) = eval_blocks(markdown, doc)
    assert block.line == 7
    result = compile_block(block, 999)
    assert not result.ok
    assert "`contians` is not a text check" in problems(result)
    assert "did you mean `contains`?" in problems(result)


def test_fences_inside_longer_fences_are_text() -> None:
    markdown = "````eval\nsuite s {\n```\n}\n````\n"
    (block,) = eval_blocks(markdown, Path("x.md"))
    assert block.text == "suite s {\n```\n}\n"
