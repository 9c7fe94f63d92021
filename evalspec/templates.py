"""Jinja2 templates in prompts and expectations: found, checked and rendered at compile time."""

from __future__ import annotations

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
    return any(m in text for m in _MARKERS)


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


def render(text: str, values: Mapping[str, Any]) -> str:
    if not is_template(text):
        return text
    try:
        return _compiled(text)[0].render(values)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or str(exc), exc.lineno) from None
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(str(exc)) from None
    except Exception as exc:  # a filter failing on a row's value, say
        raise TemplateProblem(f"{type(exc).__name__}: {exc}") from None
