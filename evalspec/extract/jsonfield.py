"""Expectations on one field of a JSON document: `$.year == 2010`, `$..name contains_all [...]`.

Comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`): numbers within tolerance (default 1e-9
relative). A string holding a plain number ("2010", "1,234.5") compares with a number, and the
evidence says so; a string that only reads as a number ("200 million", "500+", "70%") does not,
and the reason says what it would have read. `ignore_case` applies to string comparisons.

A path that selects several values (`[*]`, `..name`) passes when ANY of them satisfies the
comparison, except `!=`, which needs every one to differ ("no entity is named 'doctor'").

`contains`: a substring of a string, an element of a list, or a key of an object.
`contains_all` / `contains_any` take a list of needles and search every string under the path,
keys and numbers included, so `$` with `contains_all` asks "does the document mention all of
these anywhere".
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any

from .jsonpath import Match, PathError, query, strings
from .numbers import compare, fmt, parse_number
from .spans import Finding, shorten

_PLAIN_NUMBER = re.compile(r"\s*[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?\s*")
_SQUASH = re.compile(r"[\W_]+")
_ORDER = ("<", "<=", ">", ">=")
MAX_LISTED = 20


def show(v: Any, width: int = 60) -> str:
    """A JSON value as a person reads it in a reason."""
    try:
        text = json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(v)
    return shorten(text, width)


def _small(v: Any) -> Any:
    """`v` for evidence: itself when small, else its shortened JSON text."""
    text = show(v, 201)
    return v if len(text) <= 200 else text


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _as_number(s: str) -> float | None:
    return float(s.replace(",", "")) if _PLAIN_NUMBER.fullmatch(s) else None


def _string_not_number(s: str) -> str:
    v = parse_number(s)
    return (f"{show(s)} is a string, not a number" +
            (f" (as written it reads {fmt(v)})" if v is not None else ""))


def equal(actual: Any, expected: Any, abs_tol: float | None, rel_tol: float | None,
          ignore_case: bool) -> tuple[bool, str]:
    """Whether two JSON values are equal, and a note when leniency or a near miss matters."""
    if isinstance(actual, bool) or isinstance(expected, bool) or actual is None or expected is None:
        return (type(actual) is type(expected) and actual == expected), ""
    if _is_num(actual) and _is_num(expected):
        return compare(float(actual), "==", float(expected), abs_tol, rel_tol), ""
    if _is_num(expected) and isinstance(actual, str):
        n = _as_number(actual)
        if n is None:
            return False, _string_not_number(actual)
        return (compare(n, "==", float(expected), abs_tol, rel_tol),
                f"compared the string {show(actual)} as the number {fmt(n)}")
    if _is_num(actual) and isinstance(expected, str):
        n = _as_number(expected)
        if n is None:
            return False, ""
        return (compare(float(actual), "==", n, abs_tol, rel_tol),
                f"compared the number {fmt(float(actual))} with the string {show(expected)}")
    if isinstance(actual, str) and isinstance(expected, str):
        if ignore_case:
            return actual.casefold() == expected.casefold(), ""
        if actual == expected:
            return True, ""
        if actual.casefold() == expected.casefold():
            return False, "they differ only in case; try ignore_case"
        if " ".join(actual.split()) == " ".join(expected.split()):
            return False, "they differ only in whitespace"
        return False, ""
    if isinstance(actual, list) and isinstance(expected, list):
        return (len(actual) == len(expected) and all(
            equal(a, b, abs_tol, rel_tol, ignore_case)[0] for a, b in zip(actual, expected,
                                                                            strict=True))), ""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return (actual.keys() == expected.keys() and all(
            equal(actual[k], expected[k], abs_tol, rel_tol, ignore_case)[0] for k in actual)), ""
    return False, f"{show(actual)} is not the same kind of value as {show(expected)}"


def _order(actual: Any, op: str, expected: Any, abs_tol: float | None,
           rel_tol: float | None) -> tuple[bool, str]:
    note = ""
    if isinstance(actual, str):
        n = _as_number(actual)
        if n is None:
            return False, _string_not_number(actual)
        note, actual = f"compared the string {show(actual)} as the number {fmt(n)}", n
    if isinstance(expected, str) and _as_number(expected) is not None:
        expected = _as_number(expected)
    if not _is_num(actual):
        return False, f"{show(actual)} is not a number"
    if not _is_num(expected):
        return False, f"cannot order against {show(expected)}: it is not a number"
    return compare(float(actual), op, float(expected), abs_tol, rel_tol), note


def _contains(actual: Any, needle: Any, ignore_case: bool) -> tuple[bool, str]:
    if isinstance(actual, str):
        n = needle if isinstance(needle, str) else fmt(needle) if _is_num(needle) else show(
            needle)
        if ignore_case:
            return n.casefold() in actual.casefold(), ""
        if n in actual:
            return True, ""
        return False, ("it does ignoring case; try ignore_case"
                       if n.casefold() in actual.casefold() else "")
    if isinstance(actual, list):
        for el in actual:
            if equal(el, needle, None, None, ignore_case)[0]:
                return True, ""
        if isinstance(needle, str):
            for i, el in enumerate(actual):
                if isinstance(el, str) and needle.casefold() in el.casefold():
                    return False, (f"element [{i}] {show(el)} holds it as a substring "
                                   "(contains_any / contains_all match substrings)")
        return False, ""
    if isinstance(actual, dict):
        if not isinstance(needle, str):
            return False, "an object contains keys, which are strings"
        keys = [k.casefold() for k in actual] if ignore_case else list(actual)
        return (needle.casefold() if ignore_case else needle) in keys, ""
    return False, f"{show(actual)} is {type(actual).__name__}, which cannot contain anything"


def _matches(actual: Any, rx: re.Pattern[str]) -> tuple[bool, str]:
    if isinstance(actual, str):
        return rx.search(actual) is not None, ""
    if _is_num(actual) or isinstance(actual, bool):
        text = show(actual)
        return rx.search(text) is not None, f"matched against the text {text!r}"
    return False, f"{show(actual)} is not a string"


def field_check(doc: Any, path: str, cmp: str, value: Any = None, *,
                abs_tol: float | None = None, rel_tol: float | None = None,
                ignore_case: bool = False) -> Finding:
    """Decide `path cmp value` against the parsed document `doc`."""
    try:
        result = query(doc, path)
    except PathError as exc:
        return Finding.error(str(exc))
    if not result.matches:
        return Finding.fail(result.miss, path=path)
    ms = result.matches
    if cmp == "exists":
        return Finding.ok(f"{ms[0].path} exists: {show(ms[0].value)}"
                          + (f" (and {len(ms) - 1} more)" if len(ms) > 1 else ""),
                          path=path, matches=_listed(ms))
    if cmp in ("contains_all", "contains_any"):
        needles = value if isinstance(value, list) else [value]
        return _search(ms, path, cmp, [str(n) if not isinstance(n, str) else n for n in needles],
                       ignore_case)
    rx: re.Pattern[str] | None = None
    if cmp == "matches":
        try:
            rx = re.compile(str(value), re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            return Finding.error(f"invalid regex /{shorten(str(value), 50)}/: {exc}")
    outcomes: list[tuple[Match, bool, str]] = []
    for m in ms:
        if cmp in ("==", "!="):
            same, note = equal(m.value, value, abs_tol, rel_tol, ignore_case)
            ok = same if cmp == "==" else not same
        elif cmp in _ORDER:
            ok, note = _order(m.value, cmp, value, abs_tol, rel_tol)
        elif cmp == "contains":
            ok, note = _contains(m.value, value, ignore_case)
        elif rx is not None:
            ok, note = _matches(m.value, rx)
        else:
            raise ValueError(f"unknown field comparison {cmp!r}")
        outcomes.append((m, ok, note))
    return _verdict(outcomes, path, cmp, value)


def _listed(ms: list[Match]) -> list[dict[str, Any]]:
    return [{"path": m.path, "value": _small(m.value)} for m in ms[:MAX_LISTED]]


def _expect(cmp: str, value: Any) -> str:
    if cmp == "matches":
        return f"matching /{shorten(str(value), 50)}/"
    if cmp == "contains":
        return f"containing {show(value)}"
    return f"{cmp} {show(value)}"


def _verdict(outcomes: list[tuple[Match, bool, str]], path: str, cmp: str, value: Any
             ) -> Finding:
    ev: dict[str, Any] = {
        "path": path, "cmp": cmp, "expected": _small(value), "count": len(outcomes),
        "matches": [{"path": m.path, "value": _small(m.value), "ok": ok, **({"note": n} if n
                    else {})} for m, ok, n in outcomes[:MAX_LISTED]]}
    every = cmp == "!="
    hits = [o for o in outcomes if o[1]]
    misses = [o for o in outcomes if not o[1]]
    passed = not misses if every else bool(hits)

    def line(o: tuple[Match, bool, str]) -> str:
        return f"{o[0].path} is {show(o[0].value)}"

    def why(o: tuple[Match, bool, str], *more: str) -> str:
        parts = [p for p in (*more, o[2]) if p]
        return f" ({'; '.join(parts)})" if parts else ""

    want = _expect(cmp, value)
    if len(outcomes) == 1:
        (o,) = outcomes
        if passed:
            return Finding.ok(f"{line(o)}, as expected{why(o, want)}", **ev)
        return Finding.fail(f"{line(o)}, expected {want}{why(o)}", **ev)
    n = len(outcomes)
    if every:
        if passed:
            return Finding.ok(f"all {n} values at {path} are {want}", **ev)
        return Finding.fail(f"{line(misses[0])}, expected {want}"
                            f"{why(misses[0], f'{len(misses)} of {n} values at {path} fail')}",
                            **ev)
    if passed:
        return Finding.ok(f"{line(hits[0])}, as expected"
                          f"{why(hits[0], want, f'{len(hits)} of {n} values at {path} pass')}",
                          **ev)
    shown = ", ".join(show(m.value, 30) for m, _, _ in outcomes[:5]) + (", …" if n > 5 else "")
    notes = [nt for _, _, nt in outcomes if nt]
    return Finding.fail(f"none of the {n} values at {path} is {want}: {shown}"
                        + (f" ({notes[0]})" if notes else ""), **ev)


def _search(ms: list[Match], path: str, cmp: str, needles: list[str], ignore_case: bool
            ) -> Finding:
    """Look for every needle in every string under the matches (keys and numbers included)."""
    hay: list[tuple[Match, str]] = []
    for m in ms:
        hay.extend(strings(m))
    fold = (lambda s: s.casefold()) if ignore_case else (lambda s: s)
    # One joined haystack keeps the search linear in the document, however many strings.
    sep = "\n\x1f\n"
    pieces = [fold(t) for _, t in hay]
    joined = sep.join(pieces)
    starts: list[int] = []
    pos = 0
    for p in pieces:
        starts.append(pos)
        pos += len(p) + len(sep)
    found: dict[str, str] = {}
    missing: list[str] = []
    for needle in needles:
        at = joined.find(fold(needle)) if needle else 0
        if at >= 0 and hay:
            found[needle] = hay[bisect.bisect_right(starts, at) - 1][0].path
        else:
            missing.append(needle)
    ev: dict[str, Any] = {"path": path, "cmp": cmp, "found": found, "missing": missing,
                          "strings_searched": len(hay)}
    q = ", ".join(repr(shorten(n, 40)) for n in missing[:8]) + (", …" if len(missing) > 8
                                                                  else "")
    hints = [h for h in (_near(hay, n) for n in missing[:8]) if h]
    if hints:
        ev["hints"] = hints
    tail = f"; {'; '.join(hints[:3])}" if hints else ""
    where = path if len(ms) == 1 else f"{len(ms)} values at {path}"
    if cmp == "contains_all":
        if not missing:
            return Finding.ok(f"all {len(needles)} found under {where}", **ev)
        return Finding.fail(f"missing {len(missing)} of {len(needles)} under {where}: {q}{tail}",
                            **ev)
    if found:
        first = next(iter(found))
        return Finding.ok(f"found {shorten(first, 40)!r} at {found[first]}", **ev)
    return Finding.fail(f"none of {q} found under {where} ({len(hay)} strings searched){tail}",
                        **ev)


def _near(hay: list[tuple[Match, str]], needle: str) -> str:
    """Where the needle occurs with other case, punctuation or spacing."""
    target = _SQUASH.sub(" ", needle.casefold()).strip()
    if not target:
        return ""
    for where, text in hay:
        squashed = _SQUASH.sub(" ", text.casefold())
        if target in squashed:
            return f"{shorten(needle, 40)!r} appears as {shorten(text, 50)!r} at {where.path}"
    return ""
