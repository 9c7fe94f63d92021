"""The parser's own LALR loop must build exactly what lark's parser builds from the same
grammar and tables, on every spec we ship and on the benchmark's generated spec."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evalspec import parser
from evalspec.source import SourceFile

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted([*(ROOT / "specs").rglob("*.eval"), *(ROOT / "evalspec" / "stdlib").glob("*.eval"),
                *(ROOT / "tests" / "cases").rglob("*.eval")])


def both(text: str):
    ours, errors = parser.parse(SourceFile(Path("x.eval"), "x.eval", text))
    lark = parser._lark()
    lark.options.transformer.file = "x.eval"
    theirs = lark.parse(text)
    return ours, errors, theirs


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_nodes_as_lark(spec: Path) -> None:
    text = spec.read_text(encoding="utf-8")
    try:
        ours, errors, theirs = both(text)
    except Exception as exc:  # lark rejects it: then ours must report a syntax error
        ours, errors = parser.parse(SourceFile(spec, spec.name, text))
        assert ours is None and errors, exc
        return
    assert not errors and ours is not None
    assert ours.statements == theirs


def test_same_nodes_on_a_generated_spec() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import compile_bench
    finally:
        sys.path.pop(0)
    ours, errors, theirs = both(compile_bench.generate(300))
    assert not errors and ours is not None and ours.statements == theirs
