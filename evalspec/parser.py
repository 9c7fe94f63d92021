"""Source text -> nodes. The only module that touches Lark.

The parser is built lazily, once per process. Lark's exceptions are turned into located
diagnostics where they enter our code, so no Lark traceback ever reaches a user.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import nodes as n
from .diagnostics import Diagnostic, Severity
from .source import SourceFile, Span

_OBJECT_OPENERS = {"EQUAL", "COLON", "COMMA", "LSQB", "LPAR", "OBJ_LBRACE"}
_DROP_NL_INSIDE = {"LSQB", "LPAR", "OBJ_LBRACE"}


def grammar_text() -> str:
    """The grammar ships inside the wheel; in a source checkout it lives in grammar/."""
    packaged = resources.files("evalspec") / "grammar" / "evalspec.lark"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "grammar" / "evalspec.lark").read_text(
        encoding="utf-8")


class _PostLexer:
    """Makes newlines mean "end of statement" only where a statement can end."""

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open: list[Token] = []

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.open = []
        prev: Token | None = None
        pending: list[Token] = []
        source = iter(stream)

        def tokens() -> Iterator[Token]:
            while True:
                if pending:
                    yield pending.pop(0)
                    continue
                nxt = next(source, None)
                if nxt is None:
                    return
                yield nxt

        feed = tokens()
        for tok in feed:
            kind = tok.type
            if kind == "_NL":
                if self.open and self.open[-1].type in _DROP_NL_INSIDE:
                    continue
                if prev is None or prev.type in ("_NL", "LBRACE"):
                    continue
            elif kind == "LBRACE":
                if prev is not None and prev.type in _OBJECT_OPENERS:
                    tok = Token.new_borrow_pos("OBJ_LBRACE", tok.value, tok)
                else:
                    # A block body never starts with a string or a number, so `{ "type": ... }`
                    # after a word (`expect json schema {...}`) is an object literal.
                    ahead = next(source, None)
                    while ahead is not None and ahead.type == "_NL":
                        pending.append(ahead)
                        ahead = next(source, None)
                    if ahead is not None:
                        pending.append(ahead)
                        if ahead.type in ("STRING", "NUMBER"):
                            tok = Token.new_borrow_pos("OBJ_LBRACE", tok.value, tok)
                self.open.append(tok)
            elif kind in ("LSQB", "LPAR"):
                self.open.append(tok)
            elif kind in ("RBRACE", "RSQB", "RPAR"):
                opener = self.open.pop() if self.open else None
                if (kind == "RBRACE" and opener is not None and opener.type == "LBRACE"
                        and prev is not None and prev.type not in ("_NL", "LBRACE")):
                    # Close the block's last statement, as a newline would have.
                    yield Token.new_borrow_pos("_NL", "", tok)
            yield tok
            prev = tok
        if prev is not None and prev.type != "_NL":
            yield Token("_NL", "", end_pos=prev.end_pos, line=prev.end_line,
                        column=prev.end_column, end_line=prev.end_line,
                        end_column=prev.end_column)


@cache
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic", postlex=_PostLexer(),
                propagate_positions=True, maybe_placeholders=False, strict=False)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)


def _unescape(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        seq = m.group(1)
        if seq[0] == "u" and len(seq) == 5:
            return chr(int(seq[1:], 16))
        # Unknown escapes stay as written, so LaTeX such as \( x \) survives in prompts.
        return _ESCAPES.get(seq, "\\" + seq)
    return _ESCAPE_RE.sub(sub, body)


def _dedent(body: str) -> str:
    if body.startswith("\r\n"):
        body = body[2:]
    elif body.startswith("\n"):
        body = body[1:]
    lines = body.split("\n")
    if lines and not lines[-1].strip():
        lines = lines[:-1]
    return textwrap.dedent("\n".join(lines))


_NUMBER_RE = re.compile(r"([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(.*)")


class _ToNodes(Transformer):
    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _sp(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + len(tok.value))

    # values
    def string(self, children):
        (tok,) = children
        return n.Str(_unescape(tok.value[1:-1]), self._tok(tok))

    def raw_string(self, children):
        (tok,) = children
        return n.Str(tok.value[2:-1], self._tok(tok), raw=True)

    def long_string(self, children):
        (tok,) = children
        return n.Str(_unescape(_dedent(tok.value[3:-3])), self._tok(tok))

    def raw_long_string(self, children):
        (tok,) = children
        return n.Str(_dedent(tok.value[4:-3]), self._tok(tok), raw=True)

    def _num(self, tok: Token) -> n.Num:
        m = _NUMBER_RE.fullmatch(tok.value)
        assert m is not None  # the lexer only produces matching tokens
        return n.Num(float(m.group(1)), m.group(2), tok.value, self._tok(tok))

    def number(self, children):
        return self._num(children[0])

    @v_args(meta=True)
    def range(self, meta, children):
        low = high = None
        seen_range = False
        for c in children:
            if c.type == "RANGE":
                seen_range = True
            elif seen_range:
                high = self._num(c)
            else:
                low = self._num(c)
        return n.Range(low, high, self._sp(meta))

    @v_args(meta=True)
    def ref(self, meta, children):
        return n.Ref(tuple(str(c) for c in children), self._sp(meta))

    @v_args(meta=True)
    def call(self, meta, children):
        name = children[0]
        args = tuple(c for c in children[1:] if isinstance(c, n.Arg))
        return n.Call(str(name), args, self._sp(meta))

    @v_args(meta=True)
    def arg(self, meta, children):
        if len(children) == 2:
            return n.Arg(str(children[0]), children[1], self._sp(meta))
        return n.Arg(None, children[0], self._sp(meta))

    @v_args(meta=True)
    def list(self, meta, children):
        return n.ListV(tuple(c for c in children if not isinstance(c, Token)), self._sp(meta))

    @v_args(meta=True)
    def object(self, meta, children):
        return n.ObjectV(tuple(c for c in children if isinstance(c, n.Pair)), self._sp(meta))

    def pair(self, children):
        key, value = children
        if key.type == "STRING":
            text = _unescape(key.value[1:-1])
        else:
            text = key.value
        return n.Pair(text, self._tok(key), value)

    # terms
    def op(self, children):
        (tok,) = children
        op = {"+-": "±", "≈": "=="}.get(tok.value, tok.value)
        return n.Op(op, self._tok(tok))

    @v_args(meta=True)
    def not_word(self, meta, children):
        return n.NotWord(self._sp(meta))

    # types
    @v_args(meta=True)
    def type_name(self, meta, children):
        return n.TypeExpr(str(children[0]), (), (), self._sp(meta))

    @v_args(meta=True)
    def type_generic(self, meta, children):
        name, _lsqb, inner, _rsqb = children
        return n.TypeExpr(str(name), (inner,), (), self._sp(meta))

    @v_args(meta=True)
    def type_enum(self, meta, children):
        return n.TypeExpr("enum", (), tuple(_unescape(c.value[1:-1]) for c in children),
                          self._sp(meta))

    # statements
    @v_args(meta=True)
    def import_stmt(self, meta, children):
        target = n.Str(_unescape(children[0].value[1:-1]), self._tok(children[0]))
        alias = str(children[1]) if len(children) > 1 else None
        return n.Import(target, alias, self._sp(meta))

    @v_args(meta=True)
    def attr(self, meta, children):
        name, value = children
        return n.Attr(str(name), value, self._sp(meta), self._tok(name))

    @v_args(meta=True)
    def field(self, meta, children):
        name = children[0]
        rest = list(children[1:])
        optional = bool(rest) and isinstance(rest[0], Token) and rest[0].type == "QMARK"
        if optional:
            rest.pop(0)
        type_expr = rest.pop(0)
        description = None
        if rest and isinstance(rest[-1], Token) and rest[-1].type == "STRING":
            tok = rest.pop()
            description = n.Str(_unescape(tok.value[1:-1]), self._tok(tok))
        default = rest[0] if rest else None
        return n.Field(str(name), optional, type_expr, default, description, self._sp(meta))

    def body(self, children):
        return tuple(c for c in children if not isinstance(c, Token))

    @v_args(meta=True)
    def block(self, meta, children):
        kind = children[0]
        name = title = None
        for c in children[1:-1]:
            if isinstance(c, Token) and c.type == "NAME":
                name = c
            elif isinstance(c, Token) and c.type == "STRING":
                title = n.Str(_unescape(c.value[1:-1]), self._tok(c))
        return n.Block(str(kind), str(name) if name else None, title, children[-1],
                       self._sp(meta), self._tok(kind), self._tok(name) if name else None)

    @v_args(meta=True)
    def check(self, meta, children):
        kind = children[0]
        rest = children[1:]
        body = None
        if rest and isinstance(rest[-1], tuple):
            body = rest[-1]
            rest = rest[:-1]
        return n.Check(str(kind), tuple(rest), body, self._sp(meta), self._tok(kind))

    @v_args(meta=True)
    def negated(self, meta, children):
        return n.Negated(children[0], self._sp(meta))

    @v_args(meta=True)
    def expect(self, meta, children):
        return n.Expect(children[0], self._sp(meta))

    def start(self, children):
        return tuple(children)


_TOKEN_NAMES = {
    "NAME": "a name", "STRING": "a string", "LONGSTRING": "a string", "RAWSTRING": "a string",
    "RAWLONGSTRING": "a string", "NUMBER": "a number", "_NL": "a new line", "$END": "the end of the file",
    "LBRACE": "`{`", "RBRACE": "`}`", "OBJ_LBRACE": "`{`", "LSQB": "`[`", "RSQB": "`]`",
    "LPAR": "`(`", "RPAR": "`)`", "EQUAL": "`=`", "COLON": "`:`", "COMMA": "`,`", "DOT": "`.`",
    "QMARK": "`?`", "RANGE": "`..`", "OP": "an operator", "VBAR": "`|`", "EXPECT": "`expect`",
    "IMPORT": "`import`", "AS": "`as`", "NOT": "`not`",
}


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line" if tok.value.strip() != ";" else "`;`"
    return f"`{tok.value}`" if len(tok.value) <= 30 else f"`{tok.value[:27]}...`"


def _expected(names: set[str]) -> str:
    words = sorted({_TOKEN_NAMES.get(x, f"`{x.lower()}`") for x in names})
    if len(words) > 6:
        return ""
    if len(words) == 1:
        return f"; expected {words[0]}"
    return "; expected " + ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_error(exc: UnexpectedInput, source: SourceFile, post: _PostLexer) -> Diagnostic:
    file = source.display
    if isinstance(exc, UnexpectedCharacters):
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else ""
        span = Span.point(file, exc.line, exc.column)
        if char == '"':
            return Diagnostic(Severity.ERROR, span, "unterminated string",
                              'close it with `"` on the same line, or use """ for several lines')
        return Diagnostic(Severity.ERROR, span, f"unexpected character `{char}`")
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END" or (tok.type == "_NL" and not tok.value and post.open):
            if post.open:
                opener = post.open[-1]
                closer = {"LBRACE": "}", "OBJ_LBRACE": "}", "LSQB": "]", "LPAR": ")"}[opener.type]
                return Diagnostic(
                    Severity.ERROR, Span.point(file, opener.line, opener.column),
                    f"`{opener.value}` is never closed", f"add `{closer}` to close it")
            line = max(1, source.text.count("\n") + (0 if source.text.endswith("\n") else 1))
            return Diagnostic(Severity.ERROR, Span.point(file, line, 1),
                              "unexpected end of the file" + _expected(exc.expected))
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + 1)
        hint = None
        expected = set(exc.expected)
        if tok.type == "_NL" and "EQUAL" in expected:
            hint = "an attribute is written `name = value`"
        elif tok.type == "NAME" and "_NL" in expected:
            hint = "put one statement per line, or separate them with `;`"
        elif tok.type in ("RBRACE", "RSQB", "RPAR") and not post.open:
            hint = "it closes nothing: is an opening bracket missing?"
        return Diagnostic(Severity.ERROR, span,
                          f"unexpected {_describe(tok)}" + _expected(expected), hint)
    if isinstance(exc, UnexpectedEOF):
        return Diagnostic(Severity.ERROR, Span.point(file, 1, 1), "unexpected end of the file")
    return Diagnostic(Severity.ERROR, Span.point(file, 1, 1), str(exc).splitlines()[0])


def parse(source: SourceFile) -> tuple[n.Module | None, list[Diagnostic]]:
    """Parse one file. On a syntax error, returns no module and the located error."""
    lark = _lark()
    try:
        tree = lark.parse(source.text)
    except UnexpectedInput as exc:
        return None, [_syntax_error(exc, source, lark.parser.lexer_conf.postlex
                                    if hasattr(lark.parser, "lexer_conf") else _PostLexer())]
    statements = _ToNodes(source.display).transform(tree)
    return n.Module(source.display, statements), []
