"""The syntax tree of a .eval file: frozen dataclasses, each with the span it came from.

The grammar is generic (blocks, attributes, fields, expectations made of terms), so the nodes
are too; the analysis gives them meaning. No Lark object survives past the parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .source import Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span
    raw: bool = False
    """Raw strings (r"...") keep backslashes; they are never templates' escape sequences."""


@dataclass(frozen=True, slots=True)
class Num:
    value: float
    unit: str
    text: str
    span: Span

    @property
    def is_int(self) -> bool:
        return not self.unit and float(self.value).is_integer() and "." not in self.text \
            and "e" not in self.text.lower()


@dataclass(frozen=True, slots=True)
class Range:
    low: Num | None
    high: Num | None
    span: Span


@dataclass(frozen=True, slots=True)
class Ref:
    parts: tuple[str, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Arg:
    name: str | None
    value: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ListV:
    items: tuple[Value, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Pair:
    key: str
    key_span: Span
    value: Value


@dataclass(frozen=True, slots=True)
class ObjectV:
    pairs: tuple[Pair, ...]
    span: Span


Value = Union[Str, Num, Range, Ref, Call, ListV, ObjectV]  # noqa: UP007 (used at runtime)


@dataclass(frozen=True, slots=True)
class Op:
    op: str
    span: Span


@dataclass(frozen=True, slots=True)
class NotWord:
    span: Span


Term = Union[Str, Num, Range, Ref, Call, ListV, ObjectV, Op, NotWord]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class TypeExpr:
    name: str
    """`int`, `list`, ... or `enum` for a union of strings."""
    args: tuple[TypeExpr, ...]
    choices: tuple[str, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Import:
    target: Str
    alias: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Attr:
    name: str
    value: Value
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    optional: bool
    type: TypeExpr
    default: Value | None
    description: Str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    name: str | None
    title: Str | None
    body: tuple[Statement, ...]
    span: Span
    kind_span: Span
    name_span: Span | None


@dataclass(frozen=True, slots=True)
class Check:
    kind: str
    terms: tuple[Term, ...]
    body: tuple[Statement, ...] | None
    span: Span
    kind_span: Span


@dataclass(frozen=True, slots=True)
class Negated:
    check: CheckNode
    span: Span


CheckNode = Union[Check, Negated]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Expect:
    check: CheckNode
    span: Span


Statement = Union[Import, Attr, Field, Block, Expect]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Module:
    file: str
    statements: tuple[Statement, ...]


def node_text(node: Term) -> str:
    """A node as the user wrote it, near enough, for labels and messages."""
    match node:
        case Str(value=v, raw=raw):
            return ("r" if raw else "") + '"' + v.replace("\n", "\\n")[:60] + '"'
        case Num(text=t):
            return t
        case Range(low=lo, high=hi):
            return f"{lo.text if lo else ''}..{hi.text if hi else ''}"
        case Ref():
            return node.dotted
        case Call(name=n, args=args):
            inner = ", ".join((f"{a.name}={node_text(a.value)}" if a.name else node_text(a.value))
                              for a in args)
            return f"{n}({inner})"
        case ListV(items=items):
            return "[" + ", ".join(node_text(i) for i in items) + "]"
        case ObjectV(pairs=pairs):
            return "{" + ", ".join(f"{p.key}: {node_text(p.value)}" for p in pairs) + "}"
        case Op(op=op):
            return op
        case NotWord():
            return "not"
    return "?"
