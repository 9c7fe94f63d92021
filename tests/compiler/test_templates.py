"""Plain `{{ name }}` templates are rendered without jinja; the output must be jinja's."""

from __future__ import annotations

import jinja2
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evalspec import templates

FRAGMENTS = ["{{", "}}", "{", "}", " ", "\n", "\r\n", "x", "y", "true", "None", "{%", "%}",
             "{#", "#}", "-", "|upper", "abc ", "{{ x }}", "{{y}}", "{{ true }}", "{{ z }}",
             "{{\n x \n}}", "{{- x }}", "{{ x.y }}", "{{ range }}", "é"]
VALUES = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.none(),
                   st.booleans(), st.lists(st.integers(), max_size=2))


def jinja_render(text: str, values: dict) -> str | type[Exception]:
    try:
        return templates._compiled(text)[0].render(values)
    except jinja2.TemplateError as exc:
        return type(exc)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=8),
       st.dictionaries(st.sampled_from(["x", "y", "z"]), VALUES, max_size=3))
def test_the_fast_path_renders_what_jinja_renders(pieces: list[str], values: dict) -> None:
    text = "".join(pieces)
    assume(templates.is_template(text))  # plain text is never handed to jinja
    expected = jinja_render(text, values)
    parts = templates._placeholders(text)
    if parts is not None:
        # The fast path never takes a text that jinja cannot parse.
        assert expected is not jinja2.TemplateSyntaxError, text
    try:
        got: str | type[Exception] = templates.render(text, values)
    except templates.TemplateProblem:
        got = jinja2.TemplateError
    if isinstance(expected, type):
        assert got is jinja2.TemplateError
    else:
        assert got == expected


@pytest.mark.parametrize("text", ["{{{ x }}", "a {% if x %}b{% endif %}", "{{ x|upper }}",
                                  "{{ true }}", "line\r\n{{ x }}", "{# c #}{{ x }}"])
def test_what_only_jinja_can_render_goes_to_jinja(text: str) -> None:
    assert templates._placeholders(text) is None


def test_a_missing_variable_is_the_same_error() -> None:
    with pytest.raises(templates.TemplateProblem, match="'y' is undefined"):
        templates.render("{{ x }} and {{ y }}", {"x": 1})
