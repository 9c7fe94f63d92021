"""Which of a few options an answer concludes for ("Which is larger, 9.11 or 9.9?").

The answer is cut into clauses (sentences, and the parts of "X is smaller, so Y is larger").
Clauses that ask a question or hedge ("might seem", "a common mistake is to think") are
skipped. Every other clause can hold a verdict, in one of three tiers:

3. explicit: "the answer is X", "Answer: X", `\\boxed{X}`, a last line that is just X;
2. assertions: "X is larger", "X > Y", "Y is smaller than X", "the larger number is X",
   "X is not larger" (negations flip), "X is correct";
1. weak: `**X**` alone in bold, "not X", X being the only option mentioned at all.

The highest tier that has verdicts decides. If its verdicts disagree, the last one wins when
it opens with a conclusion or a correction ("so", "therefore", "actually", "wait", "but");
otherwise the answer is ambiguous. "Larger" and "smaller" map onto options through the
question's polarity: in "which is smaller?", "X is larger" argues against X.

Numeric options match numbers by value (9.90 is 9.9; 9.1, 99 and 9.11.1 are not 9.11); other
options match as whole words, case-insensitively, except single letters, which match case-
sensitively and never as the article "A" or the pronoun "I".
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from .numbers import TAIL, numbers, parse_number
from .spans import shorten

_ADV = (r"(?:actually|indeed|clearly|definitely|obviously|much|slightly|significantly|still|"
        r"in\s+fact|numerically|mathematically|really|truly|a\s+bit|a\s+little|just|also|"
        r"certainly|therefore|thus|so|always|in\s+value|by\s+value|strictly|now|then)")
_LARGER = r"larger|greater|bigger|higher|more|largest|greatest|biggest|highest|max(?:imum)?"
_SMALLER = r"smaller|less|lesser|lower|fewer|smallest|least|lowest|min(?:imum)?"
_IS = r"(?:is|are|was|'s|’s|would\s+be|will\s+be|must\s+be|remains)"
_NEG = r"(?P<neg>\s+not|n't|n’t)?"

# The text between two mentions that makes a comparison: "X is larger than Y", "X > Y".
_PAIR_GAP = re.compile(rf"""\s*(?:
    (?P<sym>>=|=>|≥|>|\\g(?:eq?|t)\b|<=|=<|≤|<|\\l(?:eq?|t)\b)
  | (?:{_IS})?{_NEG}\s*(?:{_ADV}\s+)*(?:the\s+)?(?P<word>{_LARGER}|{_SMALLER})
        (?:\s+{_ADV})*\s+(?:than|compared\s+(?:to|with))
  | (?P<verb>exceeds|surpasses|beats|outweighs)
)\s*[,:]?\s*""", re.VERBOSE | re.IGNORECASE)

# What follows a mention: "X is larger", "X is not the bigger number", "X is correct".
_AFTER = re.compile(rf"""\s*,?\s*(?:which\s+)?(?:
    {_IS}{_NEG}\s+(?:{_ADV}\s+)*(?:the\s+)?(?:{_ADV}\s+)*
    (?:(?P<word>{_LARGER}|{_SMALLER})\b(?!(?:\s+{_ADV})*\s+than\b)
      |(?P<right>correct|right|the\s+(?:correct\s+)?(?:answer|choice|option)|the\s+winner)\b
      |(?P<wrong>wrong|incorrect)\b)
  | (?:has|have)\s+(?:the\s+|a\s+)?(?P<hasword>{_LARGER}|{_SMALLER})\s+(?:value|magnitude)
  | (?P<wins>wins|comes\s+out\s+(?:ahead|on\s+top))\b
)""", re.VERBOSE | re.IGNORECASE)

# What precedes a mention: "the larger number is X", "Larger: X", "the bigger one is not X".
_BEFORE = re.compile(rf"""(?:^[\s>#-]*|\b(?:the|a)\s+)(?P<word>{_LARGER}|{_SMALLER})
    (?:\s+(?:number|one|value|decimal|amount|figure))?
    (?:\s+(?:of|between|among)\s+(?:[^.;!?\n]|\.(?=\d)){{0,50}}?)?
    \s*(?:\bis|:|=|\bwould\s+be|\bwill\s+be|\bmust\s+be|\bremains)\s*
    (?P<neg>not\s+)?(?:{_ADV}\s+)*$""", re.VERBOSE | re.IGNORECASE)

_ANSWER_BEFORE = re.compile(r"""(?:
    \bfinal\s+answer\s*(?:is\s*:?|:|=|would\s+be|will\s+be|-)?
  | \b(?:the\s+)?(?:correct\s+|right\s+)?answer\s*(?:is\s*:?|:|=|would\s+be|will\s+be|-)
  | \bcorrect\s+(?:option|choice)\s*(?:is\s*:?|:|=)
  | \bmy\s+(?:answer|choice)\s*(?:is\s*:?|:|=)
  | \bI\s+(?:would\s+)?(?:choose|pick|select|go\s+with)
)\s*(?P<neg>not\s+)?(?:option\s+|choice\s+)?[(\[]?\s*$""", re.VERBOSE | re.IGNORECASE)

_ELIMINATE_BEFORE = re.compile(r"(?i)(?:\bnot|\brather\s+than|\binstead\s+of)\s+(?:the\s+)?$")

_HEDGE = re.compile(r"""(?ix)\b(?:might|may|could|seem(?:s|ed|ing)?|appear(?:s|ed)?|
    look(?:s|ed)?|at\s+first|first\s+glance|intuitively|mistaken(?:ly)?|incorrectly|
    wrongly|misconception|mistake|tempting|naive(?:ly)?|easy\s+to|error|trap|as\s+if|
    assum(?:e|es|ed|ing)|(?:people|some|many|one|you|often|would|might)\s+(?:think|believe)|
    thought|confus\w*|would\s+(?:say|conclude|guess)|misread|misinterpret\w*|pitfall|
    wrong\s+to|incorrect\s+to|whether|ignoring|as\s+(?:versions?|dates?)|version\s+numbers?|versioning|
    software\s+versions?|
    if\s+(?:these|they|those|it)\s+(?:are|were|was|is)|
    if\s+(?:we|you|one)\s+(?:only|just|ignore|naively|were\s+to|treat|read))\b""")

_CONCLUDING = re.compile(r"""(?ix)^[\s,:;>*#-]*(?:so|therefore|thus|hence|consequently|
    in\s+conclusion|in\s+summary|to\s+summari[sz]e|overall|finally|ultimately|actually|wait|
    correction|however|but|in\s+fact|this\s+means|which\s+means|the\s+correct|final|answer|
    conclusion|to\s+conclude|no|yes|clearly|correctly)\b""")

_CLAUSE_BREAK = re.compile(r"""(?ix)[.!?](?=\s|$)|[;\n]|—|–|\s-\s
    |,\s*(?=(?:so|therefore|thus|hence|which\s+means|meaning|making|but|however|whereas|
              while|and\s+so|and\s+therefore|and\s+thus)\b)
    |\s(?=(?:but|however|whereas|therefore|thus|hence)\b)""")

# Markup that never carries meaning for the verdict; blanked to spaces so offsets stay put.
_MARKUP = re.compile(r"\*+|_{2,}|`+|\$+|\\[()\[\]]|\\(?:text|textbf|mathbf|mathrm|boxed)\{|"
                     r"[{}]")
_ARTICLE = re.compile(r"\s+(?!(?:is|was|would|seems|appears|must|should|could|can|will|has|"
                      r"looks|wins|isn't|wasn't)\b)[a-z]")
_BOXED = re.compile(r"\\(?:boxed|fbox)\{([^{}\n]{1,80})\}")
_BOLD = re.compile(r"\*\*\s*([^*\n]{1,80}?)\s*[.!]?\s*\*\*")
_STRIP_LINE = re.compile(r"^[\s.!:;,#>*-]*(?:answer\s*:?\s*)?|[\s.!:;,*]*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One statement in the answer that argues for some options."""

    supports: frozenset[str]
    tier: int
    rule: str
    start: int
    end: int
    quote: str
    concluding: bool = False

    def to_json(self) -> dict[str, object]:
        return {"supports": sorted(self.supports), "tier": self.tier, "rule": self.rule,
                "quote": self.quote, "span": [self.start, self.end]}


@dataclass(frozen=True, slots=True)
class Choice:
    """What an answer concludes: `option` when `status` is "chosen"."""

    status: str
    """`chosen`, `none` (no conclusion) or `ambiguous` (claims more than one)."""
    option: str | None = None
    verdict: Verdict | None = None
    """The statement that decided."""
    conflicts: tuple[Verdict, ...] = ()
    """For `ambiguous`, the disagreeing statements; for `chosen`, earlier ones it overrode."""
    verdicts: tuple[Verdict, ...] = ()
    mentions: dict[str, int] = field(default_factory=dict)
    polarity: str = "larger"

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status, "option": self.option,
            "verdict": self.verdict.to_json() if self.verdict else None,
            "conflicts": [v.to_json() for v in self.conflicts],
            "verdicts": [v.to_json() for v in self.verdicts[-20:]],
            "mentions": self.mentions, "polarity": self.polarity,
        }


@dataclass(frozen=True, slots=True)
class _Mention:
    option: str
    start: int
    end: int


def polarity(question: str | None, answer: str = "") -> str:
    """`smaller` when the question asks for the smaller/lesser/lowest, else `larger`."""
    for source in (question or "", answer[:400]):
        m = re.search(rf"(?i)\b(?:(?P<l>{_LARGER})|(?P<s>{_SMALLER}))\b", source)
        if m:
            return "smaller" if m["s"] else "larger"
    return "larger"


def same_option(text: str, option: str) -> bool:
    text = text.strip()
    a, b = parse_number(text), parse_number(option)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-12)
    return text.casefold() == option.strip().casefold()


def _find_mentions(clean: str, options: Sequence[str]) -> list[_Mention]:
    found: list[_Mention] = []
    values = {o: parse_number(o) for o in options}
    numeric = [o for o in options if values[o] is not None]
    if numeric:
        for n in numbers(clean):
            for o in numeric:
                v = values[o]
                assert v is not None
                if math.isclose(n.value, v, rel_tol=1e-12):
                    found.append(_Mention(o, n.start, n.end))
    for o in options:
        if values[o] is not None or not o.strip():
            continue
        word = o.strip()
        if len(word) == 1 and word.isalpha():
            # "A" and "I" are also English words: "A number", "I think" are not options,
            # but "A is correct" is.
            pat = rf"(?<![\w'’]){re.escape(word)}(?![\w'’])"
            flags = 0
            guard = _ARTICLE if word in "AI" else None
        else:
            pat = rf"(?<!\w){re.escape(word)}(?!\w)"
            flags = re.IGNORECASE
            guard = None
        for m in re.finditer(pat, clean, flags):
            if guard and guard.match(clean, m.end()):
                continue
            found.append(_Mention(o, m.start(), m.end()))
    found.sort(key=lambda x: x.start)
    return found


def _clauses(clean: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_question) for every clause."""
    out: list[tuple[int, int, bool]] = []
    pos = 0
    for m in _CLAUSE_BREAK.finditer(clean):
        out.append((pos, m.start(), m.group() == "?"))
        pos = m.end()
    out.append((pos, len(clean), False))
    return [c for c in out if clean[c[0]:c[1]].strip()]


class _Judge:
    """Turns the claims of one answer into support sets over the options."""

    def __init__(self, options: Sequence[str], pol: str) -> None:
        self.options = frozenset(options)
        self.polarity = pol

    def larger(self, option: str, word: str, neg: bool) -> frozenset[str]:
        is_larger = re.fullmatch(_LARGER, word, re.IGNORECASE) is not None
        wanted = is_larger == (self.polarity == "larger")
        s = frozenset({option}) if wanted else self.options - {option}
        return self.options - s if neg else s

    def pair(self, winner: str, loser: str) -> frozenset[str]:
        return self.options - {loser} if self.polarity == "larger" else self.options - {winner}

    def direct(self, option: str, neg: bool) -> frozenset[str]:
        return self.options - {option} if neg else frozenset({option})


def choose(text: str, options: Sequence[str], question: str | None = None) -> Choice:
    """Which of `options` the answer `text` concludes for."""
    options = list(dict.fromkeys(o for o in options if o.strip()))
    offset = max(0, len(text) - TAIL)
    raw = text[offset:]
    clean = _MARKUP.sub(lambda m: " " * len(m.group()), raw)
    pol = polarity(question, raw)
    judge = _Judge(options, pol)
    mentions = _find_mentions(clean, options)
    verdicts: list[Verdict] = []
    counts = {o: 0 for o in options}

    def add(supports: frozenset[str], tier: int, rule: str, lo: int, hi: int,
            concluding: bool) -> None:
        if supports and supports != judge.options:
            verdicts.append(Verdict(supports, tier, rule, lo + offset, hi + offset,
                                    shorten(" ".join(clean[lo:hi].split()), 90), concluding))

    starts = [m.start for m in mentions]
    plain: set[str] = set()
    for lo, hi, question_clause in _clauses(clean):
        # Clauses and mentions are both in order: bisect keeps this linear, not quadratic.
        inside = [m for m in mentions[bisect_left(starts, lo):bisect_left(starts, hi)]
                  if m.end <= hi]
        if question_clause or not inside:
            continue
        for m in inside:
            counts[m.option] += 1
        body = clean[lo:hi]
        if _HEDGE.search(body):
            continue
        plain.update(m.option for m in inside)
        concluding = _CONCLUDING.match(body) is not None
        paired: set[int] = set()
        for a, b in pairwise(inside):
            if a.option == b.option:
                continue
            g = _PAIR_GAP.fullmatch(clean, a.end, b.start)
            if not g:
                continue
            first_larger = (g["verb"] is not None or (g["sym"] or "").startswith(
                (">", "=>", "≥", "\\g")) or (g["word"] is not None and re.fullmatch(
                    _LARGER, g["word"], re.IGNORECASE) is not None))
            if g["neg"]:
                first_larger = not first_larger
            win, lose = (a, b) if first_larger else (b, a)
            add(judge.pair(win.option, lose.option), 2, "comparison", lo, hi, concluding)
            paired.update((a.start, b.start))
        for m in inside:
            before_lo = max(lo, m.start - 100)
            before = ("\x00" if before_lo > lo else "") + clean[before_lo:m.start]
            ans = _ANSWER_BEFORE.search(before)
            if ans:
                add(judge.direct(m.option, bool(ans["neg"])), 3, "answer phrase", lo, hi, True)
                continue
            if m.start in paired:
                continue
            aft = _AFTER.match(clean, m.end, hi)
            if aft:
                neg = bool(aft["neg"])
                if aft["word"] or aft["hasword"]:
                    add(judge.larger(m.option, aft["word"] or aft["hasword"], neg), 2,
                        f"'is {(aft['word'] or aft['hasword']).lower()}'", lo, hi, concluding)
                elif aft["wins"]:
                    add(judge.direct(m.option, False), 2, "'wins'", lo, hi, concluding)
                elif aft["right"]:
                    tier = 3 if "answer" in aft["right"].lower() else 2
                    add(judge.direct(m.option, neg), tier, "'is correct'", lo, hi, concluding)
                else:
                    add(judge.direct(m.option, not neg), 2, "'is wrong'", lo, hi, concluding)
                continue
            bef = _BEFORE.search(before)
            if bef:
                add(judge.larger(m.option, bef["word"], bool(bef["neg"])), 2,
                    f"'the {bef['word'].lower()} is'", lo, hi, concluding)
                continue
            if _ELIMINATE_BEFORE.search(before):
                add(judge.direct(m.option, True), 1, "'not X'", lo, hi, False)

    # Explicit forms read off the raw text: \boxed{X}, a bold X, a last line that is X.
    for b in _BOXED.finditer(raw):
        for o in options:
            if same_option(b.group(1), o):
                add(frozenset({o}), 3, "\\boxed{}", b.start(), b.end(), True)
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if lines:
        last = _STRIP_LINE.sub("", _MARKUP.sub(" ", lines[-1]))
        for o in options:
            if last and same_option(last, o):
                at = raw.rfind(lines[-1])
                add(frozenset({o}), 3, "last line" if len(lines) > 1 else "whole answer",
                    at, at + len(lines[-1]), True)
    for b in _BOLD.finditer(raw):
        for o in options:
            if same_option(b.group(1), o):
                add(frozenset({o}), 1, "bold", b.start(), b.end(), False)
    mentioned = [o for o in options if o in plain]
    if len(mentioned) == 1 and all(counts[o] == 0 for o in options if o not in plain):
        first = next(m for m in mentions if m.option == mentioned[0])
        add(frozenset(mentioned), 1, "only option mentioned", first.start, first.end, False)

    verdicts.sort(key=lambda v: v.start)
    return _resolve(verdicts, options, counts, pol)


def _resolve(verdicts: list[Verdict], options: list[str], counts: dict[str, int],
             pol: str) -> Choice:
    candidates = frozenset(options)
    for tier in (3, 2, 1):
        vs = [v for v in verdicts if v.tier == tier]
        if not vs:
            continue
        agreed = candidates
        for v in vs:
            agreed &= v.supports
        if not agreed:
            last = vs[-1]
            pick = last.supports & candidates
            if last.concluding and len(pick) == 1:
                (opt,) = pick
                over = tuple(v for v in verdicts if opt not in v.supports and v.tier >= 2)
                return Choice("chosen", opt, last, over, tuple(verdicts), counts, pol)
            return Choice("ambiguous", None, None, _disagreeing(vs), tuple(verdicts),
                          counts, pol)
        if len(agreed) == 1:
            (opt,) = agreed
            decider = next(v for v in reversed(vs) if opt in v.supports)
            over = tuple(v for v in verdicts if opt not in v.supports and v.tier >= 2)
            return Choice("chosen", opt, decider, over, tuple(verdicts), counts, pol)
        candidates = agreed
    return Choice("none", None, None, (), tuple(verdicts), counts, pol)


def _disagreeing(vs: list[Verdict]) -> tuple[Verdict, ...]:
    """The last verdict and the last one before it that it contradicts."""
    last = vs[-1]
    for v in reversed(vs[:-1]):
        if not v.supports & last.supports:
            return (v, last)
    return tuple(vs[-2:])
