"""Jinja2 templates in prompts and expectations: found, checked and rendered at compile time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta

_MARKERS = ("{{", "{%", "{#")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # StrictUndefined: a variable that is not filled is an error, never an empty string.
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text  # _MARKERS, unrolled: called per string


@lru_cache(maxsize=4096)
def _compiled(text: str) -> tuple[jinja2.Template, frozenset[str]]:
    env = environment()
    ast = env.parse(text)
    return env.from_string(ast), frozenset(meta.find_undeclared_variables(ast))


class TemplateProblem(Exception):
    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.message = message
        self.lineno = lineno


def variables(text: str) -> frozenset[str]:
    """The variables a template needs. Raises TemplateProblem on a syntax error."""
    if not is_template(text):
        return frozenset()
    try:
        return _compiled(text)[1]
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or str(exc), exc.lineno) from None


# `{{ name }}` and nothing else: the shape of nearly every template in a data-driven suite.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Words jinja reads as constants, not as variables.
_JINJA_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})


@lru_cache(maxsize=4096)
def _placeholders(text: str) -> tuple[str, ...] | None:
    """The template split into text and variable names (at odd positions), when it is only
    text and `{{ name }}`; None when only jinja can render it."""
    if "\r" in text:  # jinja normalises newlines in template text
        return None
    parts = tuple(_PLACEHOLDER.split(text))
    for i in range(0, len(parts), 2):
        piece = parts[i]
        if any(m in piece for m in _MARKERS):
            return None
        # `{{{ x }}` is jinja's dict syntax, not a placeholder after a brace.
        if piece.endswith("{") and i + 1 < len(parts):
            return None
    if any(name in _JINJA_LITERALS for name in parts[1::2]):
        return None
    return parts


def render(text: str, values: Mapping[str, Any]) -> str:
    if not is_template(text):
        return text
    # Rendering `{{ name }}` by hand gives jinja's output (str() of the value) at a tenth of
    # the cost of building a jinja context, which a 10,000-row suite feels.
    parts = _placeholders(text)
    if parts is not None and all(name in values for name in parts[1::2]):
        return "".join(str(values[p]) if i % 2 else p for i, p in enumerate(parts))
    try:
        return _compiled(text)[0].render(values)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or str(exc), exc.lineno) from None
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(str(exc)) from None
    except Exception as exc:  # a filter failing on a row's value, say
        raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
