"""A spec is user input: whatever it holds, the compiler answers with a plan or with located
errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalspec.compiler import compile_source

ROOT = Path(__file__).resolve().parents[2]
SPEC_FILES = sorted((ROOT / "specs").rglob("*.eval"))
DELETABLE = set('{}[]()"=:')


def outcome_is_clean(text: str, path: Path) -> None:
    result = compile_source(text, path)
    if result.ok:
        return
    for diag in result.errors:
        assert diag.span.line >= 1 and diag.span.col >= 1
        assert diag.message
        rendered = diag.render(result.sources)
        assert rendered.startswith(f"{diag.span.file}:{diag.span.line}:{diag.span.col}: error: ")


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_deleting_any_bracket_quote_equals_or_colon(spec: Path) -> None:
    """The acceptance check, exhaustively: one deletion at every such character."""
    text = spec.read_text(encoding="utf-8")
    positions = [i for i, ch in enumerate(text) if ch in DELETABLE]
    assert positions
    for i in positions:
        mutated = text[:i] + text[i + 1:]
        try:
            outcome_is_clean(mutated, spec)
        except Exception as exc:  # report which deletion broke it
            line = text.count("\n", 0, i) + 1
            raise AssertionError(f"deleting {text[i]!r} at line {line} of {spec.name}: "
                                 f"{type(exc).__name__}: {exc}") from exc


def _mutations():
    seed_text = (ROOT / "specs" / "seed.eval").read_text(encoding="utf-8")
    alphabet = st.sampled_from([*list('{}[]()"=:.,#\n \\r*-+<>±_abc19'), '"""', "expect ", "case "])

    @st.composite
    def mutate(draw):
        text = seed_text
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(text)))
            action = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
            if action == "delete":
                j = min(len(text), i + draw(st.integers(1, 8)))
                text = text[:i] + text[j:]
            elif action == "insert":
                text = text[:i] + draw(alphabet) + text[i:]
            elif action == "replace":
                text = text[:i] + draw(alphabet) + text[i + 1:]
            else:
                j = min(len(text), i + draw(st.integers(1, 60)))
                text = text[:j] + text[i:j] + text[j:]
        return text

    return mutate()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_mutated_specs_give_a_plan_or_located_errors(text: str) -> None:
    outcome_is_clean(text, ROOT / "specs" / "seed.eval")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_compiler(text: str) -> None:
    outcome_is_clean(text, ROOT / "specs" / "fuzz.eval")
