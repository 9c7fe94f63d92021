"""Source text -> nodes. The only module that touches Lark.

The parser is built lazily, once per process. Lark's exceptions are turned into located
diagnostics where they enter our code, so no Lark traceback ever reaches a user.
"""

from __future__ import annotations

import re
import textwrap
import threading
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer
from lark.parsers.lalr_analysis import Shift

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


# Scanner actions per terminal, chosen once when the scanner is built.
_PLAIN, _WORD, _NEWLINE, _BLOCK_OPEN, _OPEN, _CLOSE, _MULTILINE, _SKIP = range(8)
_SPANS_LINES = (_NEWLINE, _MULTILINE, _SKIP)  # the tokens that may hold a newline


class _FastLexer(Lexer):
    """A single-regex scanner built from the grammar's own terminals.

    Lark's basic lexer spends most of a compile in per-token bookkeeping; this one finds the
    same tokens with one `re` scanner pass. The grammar stays the single source of truth: the
    patterns, priorities and keywords all come from `lexer_conf`.
    """

    __future_interface__ = 0

    current: _FastLexer | None = None

    def __init__(self, lexer_conf) -> None:
        _FastLexer.current = self
        self.open: list[Token] = []
        ignore = set(lexer_conf.ignore)
        self.keywords: dict[str, str] = {}
        ordered = []
        for t in lexer_conf.terminals:
            if t.pattern.type == "str" and re.fullmatch(r"[A-Za-z_]\w*", t.pattern.value):
                self.keywords[t.pattern.value] = t.name  # lexed as NAME, then retyped
                continue
            ordered.append(t)
        ordered.sort(key=lambda t: (-t.priority, t.pattern.type == "str",
                                    -len(t.pattern.value) if t.pattern.type == "str" else 0))
        patterns = [(t.name, t.pattern.to_regexp()) for t in ordered]
        # Most tokens follow a few blanks: the ignored blank terminal is also allowed in front
        # of every token, so one match (and one trip round the loop) takes both.
        blanks = [regexp for name, regexp in patterns if name in ignore
                  and re.fullmatch(regexp, " \t") and not re.match(regexp, "\n")]
        prefix = f"(?:{blanks[0]})?" if blanks else ""
        self.regex = re.compile(prefix + "(?:" + "|".join(f"({r})" for _, r in patterns) + ")")
        self.names: list[str] = [""]
        self.actions: list[int] = [_PLAIN]
        special = {"NAME": _WORD, "_NL": _NEWLINE, "LBRACE": _BLOCK_OPEN, "LSQB": _OPEN,
                   "LPAR": _OPEN, "RBRACE": _CLOSE, "RSQB": _CLOSE, "RPAR": _CLOSE,
                   # Strings that can span lines; every other token keeps its line number.
                   "LONGSTRING": _MULTILINE, "RAWLONGSTRING": _MULTILINE}
        for name, regexp in patterns:
            action = _SKIP if name in ignore else special.get(name, _PLAIN)
            # Groups inside a terminal's own pattern are never the last one matched.
            count = 1 + re.compile(regexp).groups
            self.names += [name] * count
            self.actions += [action] * count

    def lex(self, text: str, with_end: bool = False) -> Iterator[Token]:
        """Scan, and make newlines mean "end of statement" only where a statement can end:
        newlines inside ( ) [ ] and object literals are dropped, runs of them collapse, and
        the last statement of a block is closed before its `}`. Object braces (after `=`,
        `:`, `,`, `[`, `(`, or followed by a string or number key) become OBJ_LBRACE."""
        names = self.names
        actions = self.actions
        keywords = self.keywords
        object_ahead = _OBJECT_AHEAD.match
        new_token = str.__new__
        self.open = opened = []
        prev_type = ""
        pos, line, line_start = 0, 1, 0
        for m in self.regex.finditer(text):
            index = m.lastindex
            value = m.group(index)  # type: ignore[arg-type]
            end = m.end()
            start = end - len(value)
            if m.start() != pos:  # finditer skipped something no terminal matches
                break
            pos = end
            action = actions[index]  # type: ignore[index]
            name = names[index]  # type: ignore[index]
            col = start - line_start + 1
            if action == _PLAIN:
                pass
            elif action == _WORD:
                if value in keywords:
                    name = keywords[value]
            elif action == _BLOCK_OPEN:
                if prev_type in _OBJECT_OPENERS or object_ahead(text, end):
                    name = "OBJ_LBRACE"
            elif action == _CLOSE:
                opener = opened.pop() if opened else None
                if (name == "RBRACE" and opener is not None and opener.type == "LBRACE"
                        and prev_type not in ("_NL", "LBRACE")):
                    # Close the block's last statement, as a newline would have.
                    yield _token("_NL", "", start, line, col, line, col, start)
            elif action in _SPANS_LINES:
                if action == _NEWLINE:
                    emit = not ((opened and opened[-1].type in _DROP_NL_INSIDE)
                                or prev_type in ("", "_NL", "LBRACE"))
                else:
                    emit = action == _MULTILINE
                newlines = value.count("\n")
                if emit:
                    prev_type = name
                    yield _token(name, value, start, line, col, line + newlines,
                                 len(value) - value.rfind("\n") if newlines else col + len(value),
                                 end)
                if newlines:
                    line += newlines
                    line_start = start + value.rfind("\n") + 1
                continue
            # As _token() does, inlined: this loop runs once per token.
            tok = new_token(Token, value)
            tok.type, tok.value, tok.start_pos, tok.end_pos = name, value, start, end
            tok.line, tok.column, tok.end_line, tok.end_column = line, col, line, col + len(value)
            if action == _OPEN or action == _BLOCK_OPEN:
                opened.append(tok)
            prev_type = name
            yield tok
        if pos != len(text):
            raise UnexpectedCharacters(text, pos, line, pos - line_start + 1, allowed=None)
        col = pos - line_start + 1
        if prev_type and prev_type != "_NL":
            yield _token("_NL", "", pos, line, col, line, col, pos)
        if with_end:  # for our own LALR loop; lark's parser adds its own
            yield _token("$END", "", pos, line, col, line, col, pos)


def _token(kind: str, value: str, start: int, line: int, col: int, end_line: int,
           end_col: int, end: int) -> Token:
    # Token.__new__ spends most of its time sorting out optional arguments: a sixth of a
    # large compile. Every slot is set here, so the result is an ordinary Token.
    tok = str.__new__(Token, value)
    tok.type, tok.value, tok.start_pos, tok.end_pos = kind, value, start, end
    tok.line, tok.column, tok.end_line, tok.end_column = line, col, end_line, end_col
    return tok


# A block body never starts with a string or a number, so `{ "type": ... }` after a word
# (`expect json schema {...}`) is an object literal.
_OBJECT_AHEAD = re.compile(r'(?:\s|#[^\n]*)*(?:"|[+-]?\d)')




@cache
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer=_FastLexer,
                maybe_placeholders=False, transformer=_ToNodes())


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
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


_new_tuple = tuple.__new__

_NUMBER_RE = re.compile(r"([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(.*)")


def _start(x) -> tuple[int, int]:
    if isinstance(x, Token):
        return x.line, x.column
    if isinstance(x, tuple):
        return _start(x[0])
    return x.span.line, x.span.col


def _end(x) -> tuple[int, int]:
    if isinstance(x, Token):
        return x.end_line, x.end_column
    if isinstance(x, tuple):
        return _end(x[-1])
    return x.span.end_line, x.span.end_col


class _ToNodes(Transformer):
    """Runs inside the LALR parser (no parse tree is built). Spans come from the first and
    last child, since the parser keeps no positions of its own."""

    file = "<spec>"
    """The file being parsed, for spans; set by `parse` (one parse at a time)."""

    def _sp(self, children) -> Span:
        first, last = children[0], children[-1]
        if isinstance(last, tuple) and not last:  # an empty block body has no position
            last = children[-2]
        (line, col), (end_line, end_col) = _start(first), _end(last)
        return Span(self.file, line, col, end_line, end_col)

    def _tok(self, tok: Token) -> Span:
        return _new_tuple(Span, (self.file, tok.line, tok.column, tok.end_line, tok.end_column))

    # The builders below run once per node of a spec, so the common ones make their spans
    # directly from the children they know they have, instead of through _sp().

    # values
    def string(self, children):
        tok = children[0]
        return n.Str(_unescape(tok.value[1:-1]),
                     _new_tuple(Span, (self.file, tok.line, tok.column, tok.end_line,
                                       tok.end_column)))

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
        text = tok.value
        try:
            value, unit = float(text), ""
        except ValueError:  # it has a unit: 30s, 512MB, 80%
            m = _NUMBER_RE.fullmatch(text)
            assert m is not None  # the lexer only produces matching tokens
            value, unit = float(m.group(1)), m.group(2)
        return n.Num(value, unit, text, self._tok(tok))

    def number(self, children):
        return self._num(children[0])

    def range(self, children):
        low = high = None
        seen_range = False
        for c in children:
            if c.type == "RANGE":
                seen_range = True
            elif seen_range:
                high = self._num(c)
            else:
                low = self._num(c)
        return n.Range(low, high, self._sp(children))

    def ref(self, children):  # NAME ("." NAME)*
        first, last = children[0], children[-1]
        return n.Ref(tuple([c.value for c in children]),
                     _new_tuple(Span, (self.file, first.line, first.column, last.end_line,
                                       last.end_column)))

    def call(self, children):
        args = tuple(c for c in children[1:] if isinstance(c, n.Arg))
        return n.Call(str(children[0]), args, self._sp(children))

    def arg(self, children):
        if len(children) == 2:
            return n.Arg(str(children[0]), children[1], self._sp(children))
        return n.Arg(None, children[0], self._sp(children))

    def list(self, children):  # LSQB value* RSQB: the commas are filtered out
        first, last = children[0], children[-1]
        return n.ListV(tuple(children[1:-1]),
                       _new_tuple(Span, (self.file, first.line, first.column, last.end_line,
                                         last.end_column)))

    def object(self, children):
        return n.ObjectV(tuple(c for c in children if isinstance(c, n.Pair)), self._sp(children))

    def pair(self, children):
        key, value = children
        text = _unescape(key.value[1:-1]) if key.type == "STRING" else key.value
        return n.Pair(text, self._tok(key), value)

    # terms
    def op(self, children):
        (tok,) = children
        op = {"+-": "±", "≈": "=="}.get(tok.value, tok.value)
        return n.Op(op, self._tok(tok))

    def not_word(self, children):
        return n.NotWord(self._tok(children[0]))

    # types
    def type_name(self, children):
        return n.TypeExpr(str(children[0]), (), (), self._tok(children[0]))

    def type_generic(self, children):
        name, _lsqb, inner, _rsqb = children
        return n.TypeExpr(str(name), (inner,), (), self._sp(children))

    def type_enum(self, children):
        return n.TypeExpr("enum", (), tuple(_unescape(c.value[1:-1]) for c in children),
                          self._sp(children))

    # statements
    def import_stmt(self, children):
        target = n.Str(_unescape(children[0].value[1:-1]), self._tok(children[0]))
        alias = str(children[1]) if len(children) > 1 else None
        return n.Import(target, alias, self._sp(children))

    def attr(self, children):  # NAME value
        name, value = children[0], children[1]
        end = value.span
        return n.Attr(name.value, value,
                      _new_tuple(Span, (self.file, name.line, name.column, end[3], end[4])),
                      self._tok(name))

    def field(self, children):
        name = children[0]
        rest = [c for c in children[1:] if not (isinstance(c, Token) and c.type == "_NL")]
        optional = bool(rest) and isinstance(rest[0], Token) and rest[0].type == "QMARK"
        if optional:
            rest.pop(0)
        type_expr = rest.pop(0)
        description = None
        if rest and isinstance(rest[-1], Token) and rest[-1].type == "STRING":
            tok = rest.pop()
            description = n.Str(_unescape(tok.value[1:-1]), self._tok(tok))
        default = rest[0] if rest else None
        last = description or default or type_expr
        return n.Field(str(name), optional, type_expr, default, description,
                       self._sp([name, last]))

    def body(self, children):  # LBRACE statement* RBRACE
        return tuple(children[1:-1])

    def block(self, children):
        kind = children[0]
        name = title = None
        for c in children[1:-1]:
            if isinstance(c, Token) and c.type == "NAME":
                name = c
            elif isinstance(c, Token) and c.type == "STRING":
                title = n.Str(_unescape(c.value[1:-1]), self._tok(c))
        head_end = name or kind
        return n.Block(str(kind), str(name) if name else None, title, children[-1],
                       self._sp([kind, head_end]), self._tok(kind),
                       self._tok(name) if name else None)

    def check(self, children):  # NAME term* body?
        kind = children[0]
        body = None
        if isinstance(children[-1], tuple):
            body = children[-1]
            terms = tuple(children[1:-1])
        else:
            terms = tuple(children[1:])
        kind_span = self._tok(kind)
        if terms:
            end = terms[-1].span
            span = _new_tuple(Span, (self.file, kind.line, kind.column, end[3], end[4]))
        else:
            span = kind_span
        return n.Check(kind.value, terms, body, span, kind_span)

    def negated(self, children):
        return n.Negated(children[1], self._sp(children))

    def expect(self, children):
        check = children[0]
        return n.Expect(check, check.span)

    def start(self, children):
        return tuple(c for c in children if not isinstance(c, Token))


_TOKEN_NAMES = {
    "NAME": "a name", "STRING": "a string", "LONGSTRING": "a string", "RAWSTRING": "a string",
    "RAWLONGSTRING": "a string", "NUMBER": "a number", "_NL": "a new line",
    "$END": "the end of the file",
    "LBRACE": "`{`", "RBRACE": "`}`", "OBJ_LBRACE": "`{`", "LSQB": "`[`", "RSQB": "`]`",
    "LPAR": "`(`", "RPAR": "`)`", "EQUAL": "`=`", "COLON": "`:`", "COMMA": "`,`", "DOT": "`.`",
    "QMARK": "`?`", "RANGE": "`..`", "OP": "an operator", "VBAR": "`|`", "EXPECT": "`expect`",
    "IMPORT": "`import`", "AS": "`as`", "NOT": "`not`",
}


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line" if tok.value.strip() != ";" else "`;`"
    return f"`{tok.value}`" if len(tok.value) <= 30 else f"`{tok.value[:27]}...`"


def _expected(names: set[str]) -> str:
    words = sorted({_TOKEN_NAMES.get(x, f"`{x.lower()}`") for x in names})
    if len(words) > 6:
        return ""
    if len(words) == 1:
        return f"; expected {words[0]}"
    return "; expected " + ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_error(exc: UnexpectedInput, source: SourceFile, post: _FastLexer) -> Diagnostic:
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
        if tok.type == "_NL" and ("EQUAL" in expected or expected == {"LBRACE"}):
            hint = "an attribute is written `name = value`"
        elif tok.type == "NAME" and "_NL" in expected:
            hint = "put one statement per line, or separate them with `;`"
        elif tok.value == "=":
            hint = "to compare, write `==`; an attribute `name = value` goes on a line of its own"
        elif tok.type in ("RBRACE", "RSQB", "RPAR") and not post.open:
            hint = "it closes nothing: is an opening bracket missing?"
        return Diagnostic(Severity.ERROR, span,
                          f"unexpected {_describe(tok)}" + _expected(expected), hint)
    if isinstance(exc, UnexpectedEOF):
        return Diagnostic(Severity.ERROR, Span.point(file, 1, 1), "unexpected end of the file")
    return Diagnostic(Severity.ERROR, Span.point(file, 1, 1), str(exc).splitlines()[0])


# How a reduction makes its value, decided once per grammar rule: _KEEP passes its one child
# up (an inlined `?rule`), _WRAP starts a repetition's list, _APPEND adds to it in place
# (copying it would make a body of n statements cost n^2), _BUILD calls a node builder with
# all the children, _PICK with some of them (anonymous tokens dropped), _SPLICE with
# repetitions' lists spliced in.
_KEEP, _WRAP, _APPEND, _BUILD, _PICK, _SPLICE = range(6)


class _Driver:
    """Lark's LALR tables, run by a loop that calls the node builders directly.

    Lark wraps every rule's callback in filters (drop anonymous tokens, inline `?rule`s
    with one child, splice `_rule`s) and dispatches per token through a method call; on a
    10,000-case spec that wrapping cost a third of the compile. The same filtering is
    precomputed here per rule, from the grammar, so the result is identical to lark's.
    """

    def __init__(self, lark: Lark, builder: _ToNodes):
        self.builder = builder
        table = lark.parser.parser.parser.parse_table
        self.start_state: int = table.start_states["start"]
        # One dict per state: a shift (or a goto) is the next state, a reduction is ~rule.
        self.table: list[dict[str, int]] = [{} for _ in range(max(table.states) + 1)]
        self.rules: list[tuple[int, int, tuple[tuple[int, bool], ...], Any, str]] = []
        numbered: dict[int, int] = {}
        for state, actions in table.states.items():
            for symbol, (action, arg) in actions.items():
                if action is Shift:
                    self.table[state][str(symbol)] = arg
                    continue
                if id(arg) not in numbered:
                    numbered[id(arg)] = len(self.rules)
                    self.rules.append(self._reduction(arg, builder))
                # Plain `str` keys: lark's are Tokens, whose __eq__ is Python code.
                self.table[state][str(symbol)] = ~numbered[id(arg)]
        assert _FastLexer.current is not None  # built with the parser
        self.lexer = _FastLexer.current

    @staticmethod
    def _reduction(rule, builder: _ToNodes) -> tuple[int, int, tuple[tuple[int, bool], ...],
                                                     Any, str]:
        origin = str(rule.origin.name)
        # (position in the rule, whether it is an internal `_rule` to splice in)
        include = tuple((i, not sym.is_term and sym.name.startswith("_"))
                        for i, sym in enumerate(rule.expansion)
                        if not (sym.is_term and sym.filter_out))
        size = len(rule.expansion)
        name = str(rule.alias or origin)
        method = getattr(builder, name, None)
        expand1 = bool(rule.options.expand1 and not rule.alias)
        if method is None and not name.startswith("_") and not (expand1 and len(include) == 1):
            raise LookupError(f"no node builder for grammar rule {name!r}")
        if expand1 and size == 1 and include == ((0, False),):
            return _KEEP, size, include, None, origin
        if method is None and not expand1 and origin.startswith("_"):
            if size == 1 and include == ((0, False),):
                return _WRAP, size, include, None, origin
            if (size >= 2 and include[0] == (0, True) and rule.expansion[0] == rule.origin
                    and not any(splice for _, splice in include[1:])):
                return _APPEND, size, tuple((i - size, False) for i, _ in include[1:]), None, \
                    origin
        if any(splice for _, splice in include):
            return _SPLICE, size, include, (method, expand1), origin
        if len(include) < size:
            return _PICK, size, include, (method, expand1), origin
        return _BUILD, size, include, (method, expand1), origin

    def parse(self, text: str) -> Any:
        table = self.table
        rules = self.rules
        state = self.start_state
        states = [state]
        values: list[Any] = []
        for token in self.lexer.lex(text, with_end=True):
            ttype = token.type
            while True:
                try:
                    action = table[state][ttype]
                except KeyError:
                    raise UnexpectedToken(
                        token, {s for s in table[state] if s.isupper()}) from None
                if action >= 0:
                    states.append(action)
                    values.append(token)
                    state = action
                    break
                kind, size, include, build, origin = rules[~action]
                if kind == _KEEP:
                    pass
                elif kind == _WRAP:
                    values[-1] = [values[-1]]
                elif kind == _APPEND:
                    items = values[-size]
                    for i, _ in include:
                        items.append(values[i])
                    del values[1 - size:]
                    del states[1 - size:]
                else:
                    if size:
                        kids = values[-size:]
                        del values[-size:]
                        del states[-size:]
                    else:
                        kids = []
                    if kind == _BUILD:
                        filtered = kids
                    elif kind == _PICK:
                        filtered = [kids[i] for i, _ in include]
                    else:
                        filtered = []
                        for i, splice in include:
                            if splice:
                                filtered.extend(kids[i])
                            else:
                                filtered.append(kids[i])
                    method, expand1 = build
                    if expand1 and len(filtered) == 1:
                        value = filtered[0]
                    elif method is None:
                        value = filtered  # an internal `_rule`: spliced into its parent
                    else:
                        value = method(filtered)
                    if origin == "start" and len(states) == 1:
                        return value
                    state = table[states[-1]][origin]
                    states.append(state)
                    values.append(value)
                    continue
                # The reductions above left one value and one state in place of `size`.
                state = table[states[-2]][origin]
                states[-1] = state
        raise AssertionError("the parser ended without reaching the start rule")


@cache
def _driver() -> _Driver:
    return _Driver(_lark(), _ToNodes())


def parse(source: SourceFile) -> tuple[n.Module | None, list[Diagnostic]]:
    """Parse one file. On a syntax error, returns no module and the located error."""
    driver = _driver()
    with _LOCK:
        driver.builder.file = source.display
        try:
            statements = driver.parse(source.text)
        except UnexpectedInput as exc:
            return None, [_syntax_error(exc, source, driver.lexer)]
    return n.Module(source.display, statements), []


# The parser and its node builder are shared and keep per-parse state (the file name, the
# scanner's open brackets): one parse at a time.
_LOCK = threading.Lock()
