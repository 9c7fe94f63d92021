"""Plain-text expectations: contains, matches, starts/ends with, equals, length.

With `normalize`, both sides are NFKC-normalised, runs of whitespace become one space and the
ends are stripped; excerpts then quote the normalised text. `ignore_case` compares case-
insensitively. When an expectation fails, the reason names the nearest miss a person would look
for: the same text in another case, with other spacing, or the longest prefix that does occur.
"""

from __future__ import annotations

import re
import unicodedata

from .spans import Finding, excerpt, line_col, shorten


def normalise(s: str) -> str:
    """NFKC, runs of whitespace as one space, ends stripped (str.split runs in C)."""
    return " ".join(unicodedata.normalize("NFKC", s).split())


def _lower(s: str) -> str | None:
    """`s.lower()` when lower-casing keeps every offset (almost always), else None."""
    low = s.lower()
    return low if len(low) == len(s) else None


def _find(text: str, needle: str, ignore_case: bool, start: int = 0) -> int:
    if not ignore_case:
        return text.find(needle, start)
    # str.find on lower-cased copies runs in C; a case-insensitive regex is ~10x slower.
    low, low_needle = _lower(text), _lower(needle)
    if low is not None and low_needle is not None:
        return low.find(low_needle, start)
    m = re.compile(re.escape(needle), re.IGNORECASE).search(text, start)
    return m.start() if m else -1


def _where(text: str, pos: int, length: int) -> str:
    line, col = line_col(text, pos)
    return f"line {line}, col {col}: {excerpt(text, pos, pos + length)}"


def _near_miss(text: str, needle: str, ignore_case: bool, normalize: bool) -> str:
    """The closest thing to `needle` that `text` does hold, as a hint; "" if nothing useful."""
    if not needle:
        return ""
    if not ignore_case:
        at = _find(text, needle, True)
        if at >= 0:
            return (f"found {shorten(text[at:at + len(needle)])!r} with different case at "
                    f"{_where(text, at, len(needle))}")
    if not normalize:
        flat_text, flat_needle = normalise(text), normalise(needle)
        at = _find(flat_text, flat_needle, ignore_case) if flat_needle else -1
        if at >= 0:
            return "found it with different spacing or line breaks (try normalize)"
    # The longest prefix of the needle that occurs: occurrence is monotone in prefix length,
    # so a binary search needs only log2(len) substring searches.
    lo, hi = 0, len(needle)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _find(text, needle[:mid], ignore_case) >= 0:
            lo = mid
        else:
            hi = mid - 1
    if lo >= max(4, len(needle) // 3):
        at = _find(text, needle[:lo], ignore_case)
        return (f"closest: the first {lo} of {len(needle)} characters occur at "
                f"{_where(text, at, lo)}")
    return ""


def _size(text: str) -> str:
    return "the answer is empty" if not text.strip() else f"{len(text):,} chars"


def text_check(text: str, op: str, value: str, *, ignore_case: bool = False,
               normalize: bool = False) -> Finding:
    """Decide one text expectation `op` (contains, not_contains, matches, starts_with,
    ends_with, equals) of `value` against `text`."""
    if normalize:
        text, value = normalise(text), (value if op == "matches" else normalise(value))
    q = shorten(value, 50)
    match op:
        case "contains" | "not_contains":
            at = _find(text, value, ignore_case)
            if op == "contains":
                if at >= 0:
                    return Finding.ok(f"found {q!r} at {_where(text, at, len(value))}",
                                      position=list(line_col(text, at)))
                hint = _near_miss(text, value, ignore_case, normalize)
                return Finding.fail(f"{q!r} not found ({_size(text)})"
                                    + (f"; {hint}" if hint else ""), hint=hint)
            if at < 0:
                return Finding.ok(f"{q!r} does not occur")
            count = _count(text, value, ignore_case)
            return Finding.fail(f"{q!r} occurs {_times(count)}, first at "
                                f"{_where(text, at, len(value))}",
                                position=list(line_col(text, at)), count=count)
        case "matches":
            try:
                rx = re.compile(value, re.IGNORECASE if ignore_case else 0)
            except re.error as exc:
                return Finding.error(f"invalid regex /{q}/: {exc}", regex_error=str(exc))
            m = rx.search(text)
            if m:
                return Finding.ok(f"/{q}/ matches {shorten(m.group(), 60)!r} at "
                                  f"{_where(text, m.start(), m.end() - m.start())}",
                                  match=shorten(m.group(), 200),
                                  position=list(line_col(text, m.start())))
            hint = ""
            if not ignore_case and re.compile(value, re.IGNORECASE).search(text):
                hint = "it would match ignoring case"
            return Finding.fail(f"no match for /{q}/ ({_size(text)})"
                                + (f"; {hint}" if hint else ""), hint=hint)
        case "starts_with" | "ends_with":
            return _affix(text, op, value, ignore_case, normalize)
        case "equals":
            return _equals(text, value, ignore_case, normalize)
    raise ValueError(f"unknown text operation {op!r}")


def _count(text: str, needle: str, ignore_case: bool, cap: int = 1000) -> int:
    if not needle:
        return 0
    if not ignore_case:
        return text.count(needle)
    low, low_needle = _lower(text), _lower(needle)
    if low is not None and low_needle is not None:
        return low.count(low_needle)
    n = 0
    for _ in re.finditer(re.escape(needle), text, re.IGNORECASE):
        n += 1
        if n >= cap:
            break
    return n


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _same(a: str, b: str, ignore_case: bool) -> bool:
    return a.casefold() == b.casefold() if ignore_case else a == b


def _affix(text: str, op: str, value: str, ignore_case: bool, normalize: bool) -> Finding:
    starts = op == "starts_with"
    piece = text[: len(value)] if starts else text[len(text) - len(value):]
    q = shorten(value, 50)
    if len(text) >= len(value) and _same(piece, value, ignore_case):
        return Finding.ok(f"{'starts' if starts else 'ends'} with {q!r}")
    actual = shorten(text[: len(value) + 10] if starts else text[-(len(value) + 10):], 60)
    hint = ""
    trimmed = text.lstrip() if starts else text.rstrip()
    trimmed_piece = trimmed[: len(value)] if starts else trimmed[len(trimmed) - len(value):]
    if not normalize and trimmed != text and _same(trimmed_piece, value, ignore_case):
        hint = f"it does after {'leading' if starts else 'trailing'} whitespace (try normalize)"
    elif not ignore_case and _same(piece, value, True):
        hint = "it does ignoring case"
    where = "starts" if starts else "ends"
    return Finding.fail(f"{where} with {actual!r}, not {q!r}" + (f"; {hint}" if hint else ""),
                        actual=actual, hint=hint)


def _first_difference(a: str, b: str) -> int:
    """The first offset where `a` and `b` differ, comparing big slices in C first."""
    n = min(len(a), len(b))
    i, step = 0, 1 << 14
    while i < n and a[i:i + step] == b[i:i + step]:
        i += step
    while i < n and a[i] == b[i]:
        i += 1
    return min(i, n)


def _equals(text: str, value: str, ignore_case: bool, normalize: bool) -> Finding:
    a, b = (text.casefold(), value.casefold()) if ignore_case else (text, value)
    if a == b:
        return Finding.ok(f"equals {shorten(value, 50)!r}")
    i = _first_difference(a, b)
    line, col = line_col(text, i)
    hint = ""
    if not ignore_case and text.casefold() == value.casefold():
        hint = "; they are equal ignoring case"
    elif not normalize and normalise(text) == normalise(value):
        hint = "; they are equal after normalising whitespace (try normalize)"
    return Finding.fail(
        f"differs at char {i + 1} (line {line}, col {col}): expected "
        f"{shorten(value[i:i + 30], 30)!r}, got {shorten(text[i:i + 30], 30)!r} "
        f"({len(text):,} vs {len(value):,} chars){hint}",
        first_difference=i, expected_length=len(value), actual_length=len(text))


def measure(text: str, unit: str) -> int:
    """Length of `text` in chars, words (whitespace-separated) or lines."""
    match unit:
        case "chars":
            return len(text)
        case "words":
            return len(text.split())
        case "lines":
            return len(text.splitlines())
    raise ValueError(f"unknown length unit {unit!r}")


def length_check(text: str, unit: str, lo: int | None, hi: int | None) -> Finding:
    n = measure(text, unit)
    bounds = (f"within {lo:,}..{hi:,}" if lo is not None and hi is not None
              else f"at least the minimum {lo:,}" if lo is not None
              else f"at most the maximum {hi:,}" if hi is not None else "no bounds")
    ev = {"length": n, "unit": unit, "min": lo, "max": hi}
    if lo is not None and n < lo:
        return Finding.fail(f"{n:,} {unit}, fewer than the minimum {lo:,}", **ev)
    if hi is not None and n > hi:
        return Finding.fail(f"{n:,} {unit}, more than the maximum {hi:,}", **ev)
    return Finding.ok(f"{n:,} {unit}, {bounds}", **ev)
