"""Error messages, word for word: each tests/cases/errors/NAME.eval has its NAME.out.

Regenerate after an intended change with EVALSPEC_REGEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evalspec.compiler import compile_paths
from evalspec.diagnostics import render

CASES = Path(__file__).parent.parent / "cases" / "errors"
SPECS = sorted([*CASES.glob("*.eval"), CASES / "cycle" / "a.eval"])


def diagnostics_for(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(path.parent)
    result = compile_paths([Path(path.name)])
    assert not result.ok, "an error case must fail to compile"
    return render(result.diagnostics, result.sources) + "\n"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem if p.parent == CASES
                         else f"{p.parent.name}/{p.stem}")
def test_error_messages(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected_file = path.with_suffix(".out")
    actual = diagnostics_for(path, monkeypatch)
    if os.environ.get("EVALSPEC_REGEN"):
        expected_file.write_text(actual, encoding="utf-8")
    assert actual == expected_file.read_text(encoding="utf-8")


def test_every_error_is_located(monkeypatch: pytest.MonkeyPatch) -> None:
    for path in SPECS:
        monkeypatch.chdir(path.parent)
        result = compile_paths([Path(path.name)])
        for diag in result.diagnostics:
            assert diag.span.line >= 1 and diag.span.col >= 1, diag
            assert diag.span.file.endswith(".eval"), diag


def test_all_errors_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)
    result = compile_paths([Path("many_errors.eval")])
    # One file, many independent mistakes: each is reported, not just the first.
    assert len(result.errors) >= 15
    lines = {d.span.line for d in result.errors}
    assert {4, 5, 10, 11, 18, 24, 26, 27, 28, 30, 35, 36, 37, 38} <= lines


def test_api_key_literal_is_not_echoed_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)
    result = compile_paths([Path("many_errors.eval")])
    (diag,) = [d for d in result.errors if "api_key" in d.message]
    assert "sk-live" not in diag.message and "sk-live" not in (diag.hint or "")
