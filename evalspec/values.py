"""Reading attribute values with located, actionable errors.

`Attrs` checks a block's attribute names against what that block allows (with a "did you
mean" for typos, since a silently ignored key is the classic YAML trap) and converts values
to Python with typed getters that report a mistake at the value itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import nodes as n
from .diagnostics import Diagnostics, did_you_mean
from .source import Span

_DURATION = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
_SIZE_MB = {"KB": 1 / 1024, "kb": 1 / 1024, "MB": 1.0, "mb": 1.0, "GB": 1024.0, "gb": 1024.0}
KEYWORD_CONSTANTS = {"true": True, "false": False, "null": None}


def describe(value: n.Term) -> str:
    return {
        n.Str: "a string", n.Num: "a number", n.Range: "a range", n.Ref: "a name",
        n.Call: "a call", n.ListV: "a list", n.ObjectV: "an object", n.Op: "an operator",
        n.NotWord: "`not`",
    }[type(value)]


class Invalid(Exception):
    """A value that cannot be converted; the error is already reported."""


class Attrs:
    def __init__(self, block_name: str, statements: Iterable[n.Statement], allowed: Iterable[str],
                 diags: Diagnostics):
        self.diags = diags
        self.block_name = block_name
        # Built once per case of a large spec: a set given by the caller is not copied.
        self.allowed = allowed if isinstance(allowed, set | frozenset) else set(allowed)
        self.values: dict[str, n.Attr] = {}
        for stmt in statements:
            if not isinstance(stmt, n.Attr):
                continue
            if stmt.name not in self.allowed:
                hint = did_you_mean(stmt.name, self.allowed) or (
                    "allowed here: " + ", ".join(sorted(self.allowed)))
                diags.error(stmt.name_span, f"unknown attribute `{stmt.name}` in {block_name}",
                            hint)
            elif stmt.name in self.values:
                first = self.values[stmt.name].name_span
                diags.error(stmt.name_span, f"`{stmt.name}` is set twice in {block_name}",
                            f"it was first set at line {first.line}")
            else:
                self.values[stmt.name] = stmt

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def node(self, name: str) -> n.Value | None:
        attr = self.values.get(name)
        return attr.value if attr else None

    def span(self, name: str) -> Span:
        return self.values[name].name_span

    def _bad(self, name: str, expected: str) -> None:
        value = self.values[name].value
        self.diags.error(value.span, f"`{name}` must be {expected}, not {describe(value)}")

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.node(name)
        if value is None:
            return default
        if isinstance(value, n.Str):
            return value.value
        self._bad(name, "a string")
        return default

    def number(self, name: str, default: float | None = None, *, integer: bool = False,
               minimum: float | None = None, maximum: float | None = None) -> float | None:
        value = self.node(name)
        if value is None:
            return default
        if not isinstance(value, n.Num) or value.unit not in ("", "%"):
            self._bad(name, "an integer" if integer else "a number")
            return default
        number = value.value / 100 if value.unit == "%" else value.value
        if integer and not float(number).is_integer():
            self._bad(name, "an integer")
            return default
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            bounds = (f"between {_fmt(minimum)} and {_fmt(maximum)}" if minimum is not None
                      and maximum is not None else f"at least {_fmt(minimum)}"
                      if minimum is not None else f"at most {_fmt(maximum)}")
            self.diags.error(value.span, f"`{name}` must be {bounds}, not {value.text}")
            return default
        return int(number) if integer else number

    def integer(self, name: str, default: int | None = None, **bounds: float) -> int | None:
        result = self.number(name, default, integer=True, **bounds)
        return None if result is None else int(result)

    def bool(self, name: str, default: bool | None = None) -> bool | None:
        value = self.node(name)
        if value is None:
            return default
        if isinstance(value, n.Ref) and value.dotted in ("true", "false"):
            return value.dotted == "true"
        self._bad(name, "`true` or `false`")
        return default

    def duration(self, name: str, default: float | None = None) -> float | None:
        value = self.node(name)
        if value is None:
            return default
        seconds = duration_of(value)
        if seconds is None:
            self.diags.error(value.span, f"`{name}` must be a duration such as `30s` or `500ms`",
                             None if not isinstance(value, n.Num) or value.unit else
                             f"write `{value.text}s` for seconds")
            return default
        return seconds

    def size_mb(self, name: str, default: int | None = None) -> int | None:
        value = self.node(name)
        if value is None:
            return default
        if isinstance(value, n.Num) and value.unit in _SIZE_MB:
            return max(1, int(value.value * _SIZE_MB[value.unit]))
        self.diags.error(value.span, f"`{name}` must be a size such as `256MB` or `1GB`")
        return default

    def choice(self, name: str, options: Iterable[str], default: str | None = None) -> str | None:
        value = self.node(name)
        if value is None:
            return default
        options = list(options)
        word = value.dotted if isinstance(value, n.Ref) else (
            value.value if isinstance(value, n.Str) else None)
        if word in options:
            return word
        hint = (did_you_mean(word, options) if word else None) or "one of: " + ", ".join(options)
        self.diags.error(value.span, f"`{name}` must be one of {', '.join(options)}", hint)
        return default

    def str_list(self, name: str) -> list[str] | None:
        value = self.node(name)
        if value is None:
            return None
        if isinstance(value, n.Str):
            return [value.value]
        if isinstance(value, n.ListV) and all(isinstance(i, n.Str) for i in value.items):
            return [i.value for i in value.items]  # type: ignore[union-attr]
        self._bad(name, "a string or a list of strings")
        return None

    def ref_list(self, name: str) -> list[n.Ref] | None:
        value = self.node(name)
        if value is None:
            return None
        if isinstance(value, n.Ref):
            return [value]
        if isinstance(value, n.ListV) and all(isinstance(i, n.Ref) for i in value.items):
            return list(value.items)  # type: ignore[arg-type]
        self._bad(name, "a list of names, such as `[llama, gpt4o]`")
        return None

    def literal(self, name: str) -> Any:
        value = self.node(name)
        if value is None:
            return None
        try:
            return literal(value, self.diags)
        except Invalid:
            return None


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def duration_of(value: n.Value) -> float | None:
    if isinstance(value, n.Num) and value.unit in _DURATION:
        return value.value * _DURATION[value.unit]
    return None


def literal(value: n.Value, diags: Diagnostics) -> Any:
    """A value as plain JSON-able Python: strings, numbers, lists, objects, true/false/null."""
    match value:
        case n.Str():
            return value.value
        case n.Num():
            if value.unit == "%":
                return value.value / 100
            if value.unit:
                diags.error(value.span, f"`{value.text}` has a unit that means nothing here")
                raise Invalid
            return int(value.value) if value.is_int else value.value
        case n.ListV():
            return [literal(i, diags) for i in value.items]
        case n.ObjectV():
            return {p.key: literal(p.value, diags) for p in value.pairs}
        case n.Ref() if value.dotted in KEYWORD_CONSTANTS:
            return KEYWORD_CONSTANTS[value.dotted]
        case n.Ref():
            diags.error(value.span, f"`{value.dotted}` is a name, but a value is expected here",
                        f'write "{value.dotted}" if you meant a string')
            raise Invalid
    diags.error(value.span, f"{describe(value)} cannot be used as a value here")
    raise Invalid


def file_argument(call: n.Call, diags: Diagnostics, base: Path) -> tuple[Path, str] | None:
    """The path named by `file("...")`, resolved against the spec's folder, and its text."""
    if len(call.args) != 1 or call.args[0].name or not isinstance(call.args[0].value, n.Str):
        diags.error(call.span, '`file` takes one path, e.g. file("prompts/system.txt")')
        return None
    rel = call.args[0].value.value
    path = (base / rel).resolve()
    try:
        return path, path.read_text(encoding="utf-8")
    except FileNotFoundError:
        from .diagnostics import did_you_mean as dym
        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        diags.error(call.args[0].value.span, f"no file `{rel}` (looked in {path.parent})",
                    dym(Path(rel).name, siblings))
    except (OSError, UnicodeDecodeError) as exc:
        diags.error(call.args[0].value.span, f"cannot read `{rel}`: {exc}")
    return None
