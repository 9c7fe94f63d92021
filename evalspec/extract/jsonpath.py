"""A small JSONPath: the subset a spec needs to point at a field, evaluated without recursion.

Supported: `$` (the root), `.name`, `['name with spaces']`, `[0]`, `[-1]`, `[*]` and `.*`
(every child), `..name` and `..*` (recursive descent: every value of that key at any depth, in
document order), and a bare `a.b[0]`, read as `$.a.b[0]`.

When a path matches nothing, `query` says where it stopped and what was there instead:
"no key 'companyName' at $; keys are: company_name, year (did you mean 'company_name'?)".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .spans import shorten

Part = str | int
_NAME = re.compile(r"[^.\[\]]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PathError(ValueError):
    """The path itself is malformed (a mistake in the spec, not in the answer)."""


@dataclass(frozen=True, slots=True)
class Step:
    kind: str
    """`key`, `index`, `wild` (every child) or `desc` (recursive descent; `key` None = all)."""
    key: str | int | None = None


# A path as a linked list (parent, part): extending it is O(1), so walking a document 50,000
# levels deep stays linear; the tuple is built only when a path is shown.
Trail = tuple[Any, Part] | None


@dataclass(frozen=True, slots=True)
class Match:
    trail: Trail
    value: Any

    @property
    def parts(self) -> tuple[Part, ...]:
        out: list[Part] = []
        t = self.trail
        while t is not None:
            t, part = t
            out.append(part)
        return tuple(reversed(out))

    @property
    def path(self) -> str:
        return render(self.parts)

    def child(self, part: Part, value: Any) -> Match:
        return Match((self.trail, part), value)


@dataclass(frozen=True, slots=True)
class Result:
    matches: list[Match]
    miss: str = ""
    """When nothing matched: where the path stopped and what was there."""


def render(parts: tuple[Part, ...] | list[Part]) -> str:
    """`("a", 0, "b c")` as `$.a[0]['b c']`."""
    out = ["$"]
    for p in parts:
        if isinstance(p, int):
            out.append(f"[{p}]")
        elif _IDENT.fullmatch(p):
            out.append(f".{p}")
        else:
            out.append("['" + p.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(out)


def parse_path(path: str) -> list[Step]:
    """The steps of `path`; raises PathError saying where a malformed path goes wrong."""
    s = path.strip()
    i = 0
    if s.startswith("$"):
        i = 1
    elif s and s[0] not in ".[":
        s = "." + s
    steps: list[Step] = []

    def fail(msg: str, at: int) -> PathError:
        return PathError(f"invalid path {path!r}: {msg} at column {at + 1}")

    while i < len(s):
        if s.startswith("..", i):
            i += 2
            if i < len(s) and s[i] == "*":
                steps.append(Step("desc", None))
                i += 1
                continue
            if i < len(s) and s[i] == "[":
                step, i = _bracket(s, i, fail)
                if step.kind == "wild":
                    steps.append(Step("desc", None))
                elif step.kind == "key":
                    steps.append(Step("desc", step.key))
                else:
                    raise fail("recursive descent takes a key, not an index", i)
                continue
            m = _NAME.match(s, i)
            if not m:
                raise fail("expected a key after '..'", i)
            steps.append(Step("desc", m.group()))
            i = m.end()
        elif s[i] == ".":
            i += 1
            if i < len(s) and s[i] == "*":
                steps.append(Step("wild"))
                i += 1
                continue
            m = _NAME.match(s, i)
            if not m:
                raise fail("expected a key after '.'", i)
            steps.append(Step("key", m.group()))
            i = m.end()
        elif s[i] == "[":
            step, i = _bracket(s, i, fail)
            steps.append(step)
        else:
            raise fail(f"unexpected {s[i]!r}", i)
    return steps


def _bracket(s: str, i: int, fail: Any) -> tuple[Step, int]:
    """Parse `[...]` at `s[i]`; return the step and the offset after `]`."""
    j = i + 1
    if j < len(s) and s[j] in "'\"":
        quote, j = s[j], j + 1
        buf: list[str] = []
        while j < len(s) and s[j] != quote:
            if s[j] == "\\" and j + 1 < len(s):
                j += 1
            buf.append(s[j])
            j += 1
        if j >= len(s):
            raise fail("unclosed quote", i)
        j += 1
        if j >= len(s) or s[j] != "]":
            raise fail("expected ']'", j)
        return Step("key", "".join(buf)), j + 1
    close = s.find("]", j)
    if close < 0:
        raise fail("unclosed '['", i)
    inner = s[j:close].strip()
    if inner == "*":
        return Step("wild"), close + 1
    try:
        return Step("index", int(inner)), close + 1
    except ValueError:
        raise fail(f"{inner!r} is neither an index, '*', nor a quoted key", j) from None


def _children(m: Match) -> Iterator[Match]:
    if isinstance(m.value, dict):
        for k, v in m.value.items():
            yield m.child(str(k), v)
    elif isinstance(m.value, list):
        for n, v in enumerate(m.value):
            yield m.child(n, v)


def descendants(root: Match) -> Iterator[Match]:
    """Every node under `root` (not `root` itself), in document order, without recursion."""
    stack = [_children(root)]
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            stack.pop()
            continue
        yield nxt
        if isinstance(nxt.value, dict | list):
            stack.append(_children(nxt))


def query(doc: Any, path: str | list[Step]) -> Result:
    """All values `path` selects in `doc`, or why it selects none."""
    steps = parse_path(path) if isinstance(path, str) else path
    current = [Match(None, doc)]
    for step in steps:
        nxt: list[Match] = []
        for m in current:
            nxt.extend(_apply(step, m))
        if not nxt:
            return Result([], _explain(step, current))
        current = nxt
    return Result(current)


def _apply(step: Step, m: Match) -> Iterator[Match]:
    node = m.value
    if step.kind == "key":
        if isinstance(node, dict) and step.key in node:
            yield m.child(str(step.key), node[step.key])
    elif step.kind == "index":
        if isinstance(node, list):
            assert isinstance(step.key, int)
            if -len(node) <= step.key < len(node):
                yield m.child(step.key % len(node), node[step.key])
    elif step.kind == "wild":
        yield from _children(m)
    else:  # desc
        if step.key is None:
            yield from descendants(m)
            return
        for d in (m, *descendants(m)):
            if isinstance(d.value, dict) and step.key in d.value:
                yield d.child(str(step.key), d.value[step.key])


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(v), "a number")


def _keys_text(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(shorten(k, 40) for k in keys[:limit])
    return shown + (f", … ({len(keys)} in all)" if len(keys) > limit else "")


def did_you_mean(name: str, keys: list[str]) -> str:
    """The key a person probably meant: same letters ignoring case and punctuation, else the
    closest by difflib."""
    squash = re.compile(r"[\W_]+")
    target = squash.sub("", name).casefold()
    for k in keys:
        if squash.sub("", k).casefold() == target:
            return k
    folded = {k.casefold(): k for k in keys}
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else ""


def _explain(step: Step, at: list[Match]) -> str:
    where = at[0].path if len(at) == 1 else f"any of the {len(at)} values at {at[0].path}…"
    nodes = [m.value for m in at]
    if step.kind == "key":
        objs = [n for n in nodes if isinstance(n, dict)]
        if not objs:
            hint = " (use [0] or [*] to look inside)" if isinstance(nodes[0], list) else ""
            return f"{where} is {_kind(nodes[0])}, not an object, so it has no key " \
                   f"{step.key!r}{hint}"
        keys = list(dict.fromkeys(str(k) for o in objs for k in o))
        mean = did_you_mean(str(step.key), keys)
        return (f"no key {step.key!r} at {where}; "
                + (f"keys are: {_keys_text(keys)}" if keys else "it is an empty object")
                + (f" (did you mean {mean!r}?)" if mean else ""))
    if step.kind == "index":
        lists = [n for n in nodes if isinstance(n, list)]
        if not lists:
            extra = ""
            if isinstance(nodes[0], dict):
                extra = f"; keys are: {_keys_text([str(k) for k in nodes[0]])}"
            return f"{where} is {_kind(nodes[0])}, not a list, so it has no index " \
                   f"[{step.key}]{extra}"
        return f"index [{step.key}] is out of range at {where} ({len(lists[0])} items)"
    if step.kind == "wild":
        what = "empty" if nodes[0] in ({}, []) else _kind(nodes[0])
        return f"nothing under {where}: it is {what}"
    keys: list[str] = []
    for m in at:
        for d in (m, *descendants(m)):
            if isinstance(d.value, dict):
                keys.extend(str(k) for k in d.value)
    keys = list(dict.fromkeys(keys))
    mean = did_you_mean(str(step.key), keys)
    return (f"no key {step.key!r} anywhere under {where}"
            + (f"; keys seen: {_keys_text(keys)}" if keys else "")
            + (f" (did you mean {mean!r}?)" if mean else ""))


def strings(m: Match) -> Iterator[tuple[Match, str]]:
    """(where, text) for every string, key, number and boolean at or under `m`: the haystack
    for "the document mentions X". For a key, `where` is the key's own value."""
    for d in (m, *descendants(m)):
        v = d.value
        if isinstance(v, dict):
            for k in v:
                yield d.child(str(k), v[k]), str(k)
        elif isinstance(v, str):
            yield d, v
        elif isinstance(v, bool):
            yield d, "true" if v else "false"
        elif isinstance(v, int | float):
            yield d, str(v)
