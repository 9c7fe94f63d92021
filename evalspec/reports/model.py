"""The report model: what every renderer shows, computed once from results JSON.

`build_report(runs)` reads one or more results documents (docs/results.md) and computes the
per-group and per-model summaries, the pairwise judge record, and the paired statistics.
Renderers only format; none of them computes a figure of its own, so the terminal, Markdown,
JSON, JUnit and HTML outputs always agree.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from .. import stats
from ..outcome import Status, combine_status

GROUP_BY_HELP = ("suite (default), case, tag (every tag is a group), or tag:GLOB (only tags that "
                 "match, e.g. 'tag:S*')")

# Evidence keys worth a line in a one-line summary, most telling first. The checks write
# their own keys (evalspec/checks/*); a key not listed here still shows in the HTML page.
_HIGHLIGHT_KEYS = (
    "hint", "value", "as_written", "extracted", "concluded", "option", "quote", "actual",
    "found", "missing", "errors", "schema_errors", "mismatches", "closest", "events", "exit",
    "exit_code", "stderr_tail", "stdout_tail", "stdout", "stderr", "output", "traceback",
)
_TAIL_KEYS = ("stderr_tail", "stdout_tail", "stdout", "stderr", "output", "traceback")
_NESTED = ("run",)
"""Evidence keys whose value is a mapping of further facts (the sandbox's run summary)."""
_PROSE_KEYS = ("reasoning", "explanation", "rationale")


@dataclass(frozen=True, slots=True)
class CheckView:
    kind: str
    label: str
    status: Status
    reason: str
    evidence: Mapping[str, Any]
    score: float | None = None
    children: tuple[CheckView, ...] = ()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CheckView:
        try:
            status = Status(d.get("status", "error"))
        except ValueError:
            status = Status.ERROR
        evidence = d.get("evidence") or {}
        return cls(
            kind=str(d.get("kind", "?")), label=str(d.get("label", "")), status=status,
            reason=str(d.get("reason", "")),
            evidence=evidence if isinstance(evidence, Mapping) else {"value": evidence},
            score=_float_or_none(d.get("score")),
            children=tuple(cls.from_json(c) for c in d.get("children") or ()),
        )

    def walk(self) -> Iterable[CheckView]:
        yield self
        for c in self.children:
            yield from c.walk()

    @property
    def title(self) -> str:
        return self.label or self.kind

    @property
    def reasoning(self) -> str | None:
        """The judge's reasoning: a top-level text, else the first scored sample's overall
        reasoning, else its per-criterion reasoning (evalspec/judge/grade.py)."""
        for key in _PROSE_KEYS:
            value = self.evidence.get(key)
            if isinstance(value, str) and value.strip():
                return value
        samples = self.evidence.get("samples")
        if not isinstance(samples, Sequence) or isinstance(samples, str):
            return None
        for sample in samples:
            if not isinstance(sample, Mapping):
                continue
            text = sample.get("reasoning")
            if isinstance(text, str) and text.strip():
                return text
            criteria = sample.get("criteria")
            if isinstance(criteria, Mapping):
                parts = [f"{name}: {c['reasoning']}" for name, c in criteria.items()
                         if isinstance(c, Mapping) and isinstance(c.get("reasoning"), str)
                         and c["reasoning"].strip()]
                if parts:
                    return " · ".join(parts)
        return None

    def facts(self) -> dict[str, Any]:
        """The evidence with nested summaries (the sandbox run's) lifted to the top."""
        out: dict[str, Any] = {}
        for key, value in self.evidence.items():
            if key in _NESTED and isinstance(value, Mapping):
                out.update({k: v for k, v in value.items() if k not in self.evidence})
            else:
                out[key] = value
        return out

    @property
    def rubric(self) -> str | None:
        value = self.evidence.get("rubric")
        if isinstance(value, str):
            return value
        if self.kind == "judge":
            # The label reads `judge RUBRIC [>= n] [{...}]` when the evidence does not say.
            parts = self.label.split()
            return parts[1] if len(parts) > 1 else None
        return None

    def highlights(self, limit: int = 3) -> list[tuple[str, str]]:
        """The evidence items that explain the verdict, shortened for a table cell."""
        out: list[tuple[str, str]] = []
        if self.score is not None:
            out.append(("score", f"{self.score:g}"))
        facts = self.facts()
        for key in _HIGHLIGHT_KEYS:
            if facts.get(key) not in (None, "", [], {}) and len(out) < limit:
                text = short_value(facts[key], tail=key in _TAIL_KEYS)
                if text:
                    out.append((key, text))
        return out


@dataclass(frozen=True, slots=True)
class Cell:
    """One case × model × sample: the model's answer and the checks' verdicts on it."""

    case_id: str
    model: str
    sample: int
    status: Status
    error: str | None
    response: Mapping[str, Any] | None
    checks: tuple[CheckView, ...]

    @property
    def answer(self) -> str:
        if not self.response:
            return ""
        text = self.response.get("text")
        return text if isinstance(text, str) else ""

    @property
    def deciding(self) -> CheckView | None:
        """The check that decided a non-passing verdict: the first with the case's status."""
        for c in self.checks:
            if c.status is self.status:
                return c
        return None

    @property
    def judge_checks(self) -> list[CheckView]:
        return [c for top in self.checks for c in top.walk()
                if c.kind == "judge" and c.score is not None]

    @property
    def tool_trace(self) -> list[str]:
        """Executed tool steps (`name(args) → output`), else the tool calls the answer made."""
        if not self.response:
            return []
        steps = self.response.get("steps") or []
        if steps:
            return [f"{format_call(s.get('call') or {})} → {short_value(s.get('output'), 60)}"
                    + ("" if s.get("ok", True) else " (failed)") for s in steps]
        return [format_call(c) for c in self.response.get("tool_calls") or []]

    @property
    def headline(self) -> str:
        """The deciding reason alone, for layouts that list every check just below."""
        if self.status is Status.PASS:
            return self.summary
        if self.status is Status.ERROR and self.error:
            return f"model call failed: {self.error}"
        check = self.deciding
        return check.reason if check is not None and check.reason else self.summary

    @property
    def summary(self) -> str:
        """One line: why the case got its status, with the most telling evidence."""
        if self.status is Status.ERROR and self.error:
            return f"model call failed: {self.error}"
        if self.status is Status.PASS:
            scored = [f"{_rubric_short(c)} {c.score:g}" for c in self.judge_checks]
            base = self.checks[0].reason if self.checks else "passed"
            if len(self.checks) > 1:
                base = f"{len(self.checks)} checks passed: {base}"
            return "; ".join([base, *scored])
        check = self.deciding
        if check is None:
            return self.error or self.status.value
        extras = [f"{k}: {v}" for k, v in check.highlights(2)
                  if v not in check.reason and k != "score"][:1]
        text = f"{short_value(check.title, 48)}: {check.reason}"
        return f"{text} ({extras[0]})" if extras else text


@dataclass(frozen=True, slots=True)
class PairwiseView:
    case_id: str
    sample: int
    rubric: str
    model_a: str
    model_b: str
    winner: str | None
    consistent: bool | None
    status: str
    reason: str
    verdicts: tuple[Mapping[str, Any], ...]

    def preferred_model(self, verdict: Mapping[str, Any]) -> str | None:
        """Which model a verdict's "a" / "b" stands for, given the order it was asked in."""
        first, second = ((self.model_b, self.model_a) if verdict.get("order") == "ba"
                         else (self.model_a, self.model_b))
        return {"a": first, "b": second, "tie": "tie"}.get(verdict.get("preferred"))

    @classmethod
    def from_json(cls, d: Mapping[str, Any], rename: Mapping[str, str]) -> PairwiseView:
        def r(name: Any) -> Any:
            return rename.get(name, name) if isinstance(name, str) else name
        return cls(
            case_id=str(d.get("case_id", "")), sample=int(d.get("sample") or 0),
            rubric=str(d.get("rubric", "")), model_a=r(d.get("model_a")),
            model_b=r(d.get("model_b")), winner=r(d.get("winner")),
            consistent=d.get("consistent"), status=str(d.get("status", "")),
            reason=str(d.get("reason", "")),
            verdicts=tuple(v for v in d.get("verdicts") or () if isinstance(v, Mapping)),
        )


@dataclass(frozen=True, slots=True)
class CaseRow:
    case_id: str
    suite: str
    title: str
    tags: tuple[str, ...]
    cells: Mapping[str, tuple[Cell, ...]]
    """Per model, its samples in order."""
    pairwise: tuple[PairwiseView, ...] = ()

    def status(self, model: str) -> Status | None:
        """The worst status over the model's samples; None when the model did not run it."""
        cells = self.cells.get(model)
        if not cells:
            return None
        return combine_status([c.status for c in cells])

    @property
    def label(self) -> str:
        short = self.case_id.rsplit("/", 1)[-1]
        return f"{short}: {self.title}" if self.title and self.title != short else short


@dataclass(frozen=True, slots=True)
class ModelStats:
    model: str
    n: int
    passed: int
    failed: int
    errors: int
    unscored: int
    pass_rate: stats.Estimate
    """Over decided outcomes (pass / fail); errors and unscored results are not the model's
    verdict and are counted apart."""
    score: stats.Estimate
    score_normalised: bool
    """Scores from rubrics of different scales were mapped to 0..1 before averaging."""

    @property
    def decided(self) -> int:
        return self.passed + self.failed

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "n": self.n, "passed": self.passed, "failed": self.failed,
                "errors": self.errors, "unscored": self.unscored,
                "pass_rate": self.pass_rate.to_json(), "judge_score": self.score.to_json(),
                "judge_score_normalised": self.score_normalised}


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    models: Mapping[str, ModelStats]
    cases: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "cases": list(self.cases),
                "models": {k: v.to_json() for k, v in self.models.items()}}


@dataclass(frozen=True, slots=True)
class PairRecord:
    """The pairwise judge's record of model_a against model_b."""

    model_a: str
    model_b: str
    wins_a: int
    ties: int
    wins_b: int
    unscored: int
    consistent: int
    judged: int
    """Comparisons where both orders gave a verdict, the denominator of consistency."""

    @property
    def consistency(self) -> float | None:
        return self.consistent / self.judged if self.judged else None

    @property
    def text(self) -> str:
        return f"{self.wins_a}–{self.ties}–{self.wins_b}"

    def to_json(self) -> dict[str, Any]:
        return {"model_a": self.model_a, "model_b": self.model_b, "wins_a": self.wins_a,
                "ties": self.ties, "wins_b": self.wins_b, "unscored": self.unscored,
                "position_consistency": self.consistency, "consistent": self.consistent,
                "judged": self.judged}


@dataclass(frozen=True, slots=True)
class Comparison:
    """Model A against model B on the cases both ran: the paired statistics."""

    model_a: str
    model_b: str
    pass_a: int
    pass_b: int
    n: int
    pass_diff: stats.Estimate
    """Pass rate of B minus A over the paired outcomes."""
    mcnemar: stats.PairedTest
    scores: stats.PairedTest | None
    mean_score_a: float | None
    mean_score_b: float | None
    record: PairRecord | None
    excluded: int
    """Pairs left out because either side was an error or unscored."""

    @property
    def leader(self) -> str | None:
        if self.pass_a != self.pass_b:
            return self.model_a if self.pass_a > self.pass_b else self.model_b
        if self.mean_score_a is not None and self.mean_score_b is not None \
                and self.mean_score_a != self.mean_score_b:
            return self.model_a if self.mean_score_a > self.mean_score_b else self.model_b
        return None

    @property
    def significant(self) -> bool:
        return self.mcnemar.significant or bool(self.scores and self.scores.significant)

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.mcnemar.warning:
            out.append(f"pass/fail: {self.mcnemar.warning}")
        if self.scores and self.scores.warning:
            out.append(f"judge scores: {self.scores.warning}")
        if self.excluded:
            out.append(f"{self.excluded} pair(s) left out because a result was an error or "
                       "unscored")
        return out

    @property
    def verdict(self) -> str:
        """One line a reader can quote: who is ahead, by how much, and whether it is real."""
        a, b = self.model_a, self.model_b
        parts = [f"{b} {self.pass_b}/{self.n} vs {a} {self.pass_a}/{self.n} passed"]
        if self.pass_diff.value is not None:
            parts[0] += f" (difference {_pp(self.pass_diff)})"
        if self.mean_score_a is not None and self.mean_score_b is not None:
            parts.append(f"mean judge score {self.mean_score_b:.2f} vs {self.mean_score_a:.2f}")
        if self.record and (self.record.wins_a + self.record.ties + self.record.wins_b):
            r = self.record
            parts.append(f"pairwise {b} {r.wins_b} win(s), {r.ties} tie(s), {r.wins_a} loss(es)")
        tests = [f"McNemar exact {stats.format_p(self.mcnemar.p_value)}"]
        if self.scores:
            tests.append(f"Wilcoxon {stats.format_p(self.scores.p_value)}")
        if self.significant:
            better = self.mcnemar.better or (self.scores.better if self.scores else None)
            head = f"{better} is significantly better"
        elif self.leader:
            head = f"{self.leader} ahead, but no significant difference"
        else:
            head = "no difference"
        return f"{head}: {'; '.join(parts)} ({', '.join(tests)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a, "model_b": self.model_b, "n": self.n,
            "passed_a": self.pass_a, "passed_b": self.pass_b,
            "pass_rate_difference": self.pass_diff.to_json(),
            "mcnemar": self.mcnemar.to_json(),
            "judge_scores": self.scores.to_json() if self.scores else None,
            "mean_judge_score_a": self.mean_score_a, "mean_judge_score_b": self.mean_score_b,
            "pairwise": self.record.to_json() if self.record else None,
            "excluded": self.excluded, "leader": self.leader,
            "significant": self.significant, "verdict": self.verdict,
            "warnings": self.warnings,
        }


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    source: str
    plan_hash: str
    started_at: str | None
    finished_at: str | None
    complete: bool

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "source": self.source, "plan_hash": self.plan_hash,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "complete": self.complete}


@dataclass(frozen=True, slots=True)
class Report:
    runs: tuple[RunInfo, ...]
    models: tuple[str, ...]
    model_info: Mapping[str, Mapping[str, Any]]
    judge: str | None
    rubrics: Mapping[str, Mapping[str, Any]]
    cases: tuple[CaseRow, ...]
    group_by: str
    groups: tuple[Group, ...]
    suites: tuple[Group, ...]
    overall: Mapping[str, ModelStats]
    records: tuple[PairRecord, ...]
    comparisons: tuple[Comparison, ...]
    results: tuple[Mapping[str, Any], ...] = field(repr=False, default=())
    pairwise: tuple[Mapping[str, Any], ...] = field(repr=False, default=())

    @property
    def title(self) -> str:
        sources = sorted({r.source for r in self.runs if r.source})
        what = ", ".join(sources) if sources else "evalspec results"
        return f"{what}: {' vs '.join(self.models)}" if len(self.models) > 1 else what

    @property
    def incomplete(self) -> list[str]:
        return [r.run_id for r in self.runs if not r.complete]

    @property
    def verdict(self) -> str:
        """The overall verdict line (the seed article's S9)."""
        if not self.cases:
            return "no results"
        if len(self.models) == 1:
            m = self.overall[self.models[0]]
            extra = "".join(f", {k} {label}" for k, label in ((m.errors, "error(s)"),
                                                             (m.unscored, "unscored")) if k)
            return (f"{m.model}: {m.passed}/{m.decided} passed "
                    f"({stats.format_interval(m.pass_rate, percent=True)}){extra}")
        if len(self.models) == 2 and self.comparisons:
            return self.comparisons[0].verdict
        ranked = sorted(self.models, key=lambda k: (-_rate(self.overall[k]), k))
        line = " > ".join(f"{k} {self.overall[k].passed}/{self.overall[k].decided}"
                          for k in ranked)
        sig = [c for c in self.comparisons if c.significant]
        tail = ("; significant: " + ", ".join(
            f"{c.mcnemar.better or (c.scores.better if c.scores else '?')} over "
            f"{c.model_a if (c.mcnemar.better or '') == c.model_b else c.model_b}"
            for c in sig)) if sig else "; no pair differs significantly"
        return f"pass rates {line}{tail}"

    @property
    def verdict_parts(self) -> tuple[str, str]:
        """The verdict split into its headline and the figures behind it."""
        head, sep, detail = self.verdict.partition(": ")
        return (head, detail) if sep else (self.verdict, "")

    def cell_count(self) -> int:
        return sum(len(v) for c in self.cases for v in c.cells.values())

    def to_json(self) -> dict[str, Any]:
        """The report schema (docs/reports.md): the combined results plus the summary."""
        return {
            "schema": "evalspec.report",
            "schema_version": 1,
            "runs": [r.to_json() for r in self.runs],
            "models": {k: dict(self.model_info.get(k, {})) for k in self.models},
            "judge": self.judge,
            "rubrics": {k: dict(v) for k, v in self.rubrics.items()},
            "results": [dict(r) for r in self.results],
            "pairwise": [dict(p) for p in self.pairwise],
            "summary": {
                "group_by": self.group_by,
                "overall": {k: v.to_json() for k, v in self.overall.items()},
                "groups": [g.to_json() for g in self.groups],
                "suites": [g.to_json() for g in self.suites],
                "pairwise_records": [r.to_json() for r in self.records],
                "comparisons": [c.to_json() for c in self.comparisons],
                "verdict": self.verdict,
                "incomplete_runs": self.incomplete,
            },
        }


# ----------------------------------------------------------------------------- building

def build_report(runs: Sequence[Mapping[str, Any]], *, group_by: str = "suite",
                 alpha: float = stats.DEFAULT_ALPHA) -> Report:
    """Combine results documents into one report.

    Runs are merged by model name. When the same model name appears in more than one run
    (comparing a model with itself across runs), each is renamed `name@<run suffix>` so the
    two stay apart.
    """
    if not runs:
        raise ValueError("no results to report")
    _validate_group_by(group_by)
    seen: dict[str, int] = {}
    for run in runs:
        for name in _run_models(run):
            seen[name] = seen.get(name, 0) + 1

    models: list[str] = []
    model_info: dict[str, Mapping[str, Any]] = {}
    rubrics: dict[str, Mapping[str, Any]] = {}
    results: list[dict[str, Any]] = []
    pairwise_raw: list[dict[str, Any]] = []
    pairwise: list[PairwiseView] = []
    infos: list[RunInfo] = []
    judge: str | None = None
    for run in runs:
        run_id = str(run.get("run_id", ""))
        rename = {m: f"{m}@{_run_suffix(run_id)}" for m in _run_models(run) if seen[m] > 1}
        infos.append(RunInfo(run_id, str(run.get("source", "")), str(run.get("plan_hash", "")),
                             run.get("started_at"), run.get("finished_at"),
                             bool(run.get("complete", run.get("finished_at") is not None))))
        for name in _run_models(run):
            new = rename.get(name, name)
            if new not in models:
                models.append(new)
            model_info[new] = dict((run.get("models") or {}).get(name) or {}, run_id=run_id)
        judge = judge or run.get("judge")
        for rid, rub in (run.get("rubrics") or {}).items():
            rubrics.setdefault(rid, rub)
        for r in run.get("results") or ():
            r = dict(r)
            r["model"] = rename.get(r.get("model"), r.get("model"))
            r.setdefault("run_id", run_id)
            results.append(r)
        for p in run.get("pairwise") or ():
            view = PairwiseView.from_json(p, rename)
            pairwise.append(view)
            pairwise_raw.append(dict(p, model_a=view.model_a, model_b=view.model_b,
                                     winner=view.winner, run_id=run_id))

    # A declared model with no result at all (filtered out, say) would only add empty columns.
    models = [m for m in models if any(r.get("model") == m for r in results)]
    cases = _cases(results, pairwise, models)
    overall = _model_stats(cases, models, rubrics)
    suites = _groups(cases, models, rubrics, "suite")
    groups = suites if group_by == "suite" else _groups(cases, models, rubrics, group_by)
    records = tuple(_record(a, b, pairwise) for a, b in combinations(models, 2))
    comparisons = tuple(_compare(a, b, cases, rubrics, rec, alpha)
                        for (a, b), rec in zip(combinations(models, 2), records, strict=True))
    return Report(
        runs=tuple(infos), models=tuple(models), model_info=model_info, judge=judge,
        rubrics=rubrics, cases=cases, group_by=group_by, groups=groups, suites=suites,
        overall=overall, records=records, comparisons=comparisons,
        results=tuple(results), pairwise=tuple(pairwise_raw),
    )


def _validate_group_by(group_by: str) -> None:
    if group_by in ("suite", "case", "tag") or group_by.startswith("tag:"):
        return
    raise ValueError(f"cannot group by {group_by!r}; use {GROUP_BY_HELP}")


def _run_models(run: Mapping[str, Any]) -> list[str]:
    names = list(run.get("models") or {})
    for r in run.get("results") or ():
        m = r.get("model")
        if isinstance(m, str) and m not in names:
            names.append(m)
    return names


def _run_suffix(run_id: str) -> str:
    return run_id.rsplit("-", 1)[-1] if run_id else "run"


def _cases(results: list[dict[str, Any]], pairwise: list[PairwiseView],
           models: list[str]) -> tuple[CaseRow, ...]:
    order: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    cells: dict[str, dict[str, list[Cell]]] = {}
    for r in results:
        cid = str(r.get("case_id", "?"))
        if cid not in meta:
            order.append(cid)
            meta[cid] = {"suite": str(r.get("suite") or cid.split("/", 1)[0]),
                         "title": str(r.get("title") or ""),
                         "tags": tuple(str(t) for t in r.get("tags") or ())}
        try:
            status = Status(r.get("status", "error"))
        except ValueError:
            status = Status.ERROR
        response = r.get("response")
        cell = Cell(cid, str(r.get("model")), int(r.get("sample") or 0), status, r.get("error"),
                    response if isinstance(response, Mapping) else None,
                    tuple(CheckView.from_json(c) for c in r.get("checks") or ()))
        per_model = cells.setdefault(cid, {})
        samples = [c for c in per_model.get(cell.model, []) if c.sample != cell.sample]
        # A later run's result for the same case, model and sample replaces the earlier one.
        per_model[cell.model] = sorted([*samples, cell], key=lambda c: c.sample)
    by_case: dict[str, list[PairwiseView]] = {}
    for p in pairwise:
        by_case.setdefault(p.case_id, []).append(p)
    return tuple(
        CaseRow(cid, meta[cid]["suite"], meta[cid]["title"], meta[cid]["tags"],
                {m: tuple(cells[cid][m]) for m in models if m in cells[cid]},
                tuple(by_case.get(cid, ())))
        for cid in order)


def _scores(cells: Iterable[Cell], rubrics: Mapping[str, Mapping[str, Any]],
            normalise: bool) -> list[float]:
    out = []
    for cell in cells:
        for c in cell.judge_checks:
            assert c.score is not None
            out.append(_normalise(c, rubrics) if normalise else c.score)
    return out


def _scales(cells: Iterable[Cell], rubrics: Mapping[str, Mapping[str, Any]]) -> set[tuple]:
    return {_scale(c, rubrics) for cell in cells for c in cell.judge_checks}


def _scale(check: CheckView, rubrics: Mapping[str, Mapping[str, Any]]) -> tuple[float, float]:
    rub = rubrics.get(check.rubric or "") or {}
    if "scale_min" in rub and "scale_max" in rub:
        return float(rub["scale_min"]), float(rub["scale_max"])
    scale = check.evidence.get("scale")
    if isinstance(scale, Sequence) and len(scale) == 2:
        return float(scale[0]), float(scale[1])
    return 1.0, 5.0


def _normalise(check: CheckView, rubrics: Mapping[str, Mapping[str, Any]]) -> float:
    lo, hi = _scale(check, rubrics)
    assert check.score is not None
    return (check.score - lo) / (hi - lo) if hi > lo else check.score


def _stats_for(model: str, cells: list[Cell],
               rubrics: Mapping[str, Mapping[str, Any]]) -> ModelStats:
    counts = {s: sum(1 for c in cells if c.status is s) for s in Status}
    decided = [c.status is Status.PASS for c in cells
               if c.status in (Status.PASS, Status.FAIL)]
    normalise = len(_scales(cells, rubrics)) > 1
    return ModelStats(
        model=model, n=len(cells), passed=counts[Status.PASS], failed=counts[Status.FAIL],
        errors=counts[Status.ERROR], unscored=counts[Status.UNSCORED],
        pass_rate=stats.pass_rate(decided), score=stats.bootstrap_mean(
            _scores(cells, rubrics, normalise)), score_normalised=normalise)


def _model_stats(cases: Sequence[CaseRow], models: list[str],
                 rubrics: Mapping[str, Mapping[str, Any]]) -> dict[str, ModelStats]:
    return {m: _stats_for(m, [c for case in cases for c in case.cells.get(m, ())], rubrics)
            for m in models}


def _group_keys(case: CaseRow, group_by: str) -> list[str]:
    if group_by == "suite":
        return [case.suite]
    if group_by == "case":
        return [case.case_id]
    tags = list(case.tags)
    if group_by.startswith("tag:"):
        tags = [t for t in tags if fnmatch.fnmatchcase(t, group_by[4:])]
    return tags or ["(untagged)"]


def _groups(cases: Sequence[CaseRow], models: list[str],
            rubrics: Mapping[str, Mapping[str, Any]], group_by: str) -> tuple[Group, ...]:
    members: dict[str, list[CaseRow]] = {}
    for case in cases:
        for key in _group_keys(case, group_by):
            members.setdefault(key, []).append(case)
    keys = list(members)
    if group_by.startswith("tag"):
        keys.sort(key=_natural)
    return tuple(
        Group(key, {m: _stats_for(m, [c for case in members[key] for c in case.cells.get(m, ())],
                                  rubrics)
                    for m in models if any(m in case.cells for case in members[key])},
              tuple(case.case_id for case in members[key]))
        for key in keys)


def _record(a: str, b: str, pairwise: Sequence[PairwiseView]) -> PairRecord:
    wins_a = ties = wins_b = unscored = consistent = judged = 0
    for p in pairwise:
        if {p.model_a, p.model_b} != {a, b}:
            continue
        if p.winner is None:
            unscored += 1
            continue
        if p.winner == a:
            wins_a += 1
        elif p.winner == b:
            wins_b += 1
        else:
            ties += 1
        if p.consistent is not None:
            judged += 1
            consistent += bool(p.consistent)
    return PairRecord(a, b, wins_a, ties, wins_b, unscored, consistent, judged)


def _compare(a: str, b: str, cases: Sequence[CaseRow], rubrics: Mapping[str, Mapping[str, Any]],
             record: PairRecord, alpha: float) -> Comparison:
    pass_a: list[bool] = []
    pass_b: list[bool] = []
    excluded = 0
    score_pairs: list[tuple[float, float]] = []
    mixed = _mixed(cases, rubrics)

    def value(check: CheckView) -> float:
        assert check.score is not None
        return _normalise(check, rubrics) if mixed else check.score

    for case in cases:
        left = {c.sample: c for c in case.cells.get(a, ())}
        right = {c.sample: c for c in case.cells.get(b, ())}
        for sample in sorted(left.keys() & right.keys()):
            ca, cb = left[sample], right[sample]
            decided = (Status.PASS, Status.FAIL)
            if ca.status in decided and cb.status in decided:
                pass_a.append(ca.status is Status.PASS)
                pass_b.append(cb.status is Status.PASS)
            else:
                excluded += 1
            ja = {c.label: c for c in ca.judge_checks}
            jb = {c.label: c for c in cb.judge_checks}
            for label in sorted(ja.keys() & jb.keys()):
                score_pairs.append((value(ja[label]), value(jb[label])))
    mcnemar = stats.mcnemar_exact(pass_a, pass_b, name_a=a, name_b=b, alpha=alpha)
    scores = (stats.wilcoxon_signed_rank([s for s, _ in score_pairs],
                                         [s for _, s in score_pairs], name_a=a, name_b=b,
                                         alpha=alpha) if score_pairs else None)

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return Comparison(
        model_a=a, model_b=b, pass_a=sum(pass_a), pass_b=sum(pass_b), n=len(pass_a),
        pass_diff=stats.paired_difference([float(x) for x in pass_a],
                                          [float(x) for x in pass_b]),
        mcnemar=mcnemar, scores=scores,
        mean_score_a=mean([s for s, _ in score_pairs]),
        mean_score_b=mean([s for _, s in score_pairs]),
        record=record if (record.wins_a + record.ties + record.wins_b + record.unscored) else None,
        excluded=excluded)


def _mixed(cases: Sequence[CaseRow], rubrics: Mapping[str, Mapping[str, Any]]) -> bool:
    cells = (c for case in cases for cs in case.cells.values() for c in cs)
    return len(_scales(cells, rubrics)) > 1


# ----------------------------------------------------------------------------- formatting

def short_value(value: Any, limit: int = 120, *, tail: bool = False) -> str:
    """A value on one line, cut to `limit` characters (keeping the end for output tails)."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):] if tail else text[: limit - 1] + "…"


def format_call(call: Mapping[str, Any]) -> str:
    name = str(call.get("name", "?"))
    args = call.get("arguments")
    if isinstance(args, Mapping):
        inner = ", ".join(f"{k}={short_value(v, 40)}" for k, v in args.items())
    elif args is None or args == "":
        inner = ""
    else:
        inner = short_value(args, 60)
    return f"{name}({inner})"


def _rubric_short(check: CheckView) -> str:
    rubric = check.rubric or "judge"
    return rubric.rsplit(".", 1)[-1]


def _pp(est: stats.Estimate) -> str:
    """A difference in pass rate in percentage points, with its interval."""
    return stats.format_interval(est, percent=True, signed=True).replace(" [", ", 95% CI [")


def _rate(m: ModelStats) -> float:
    return m.pass_rate.value if m.pass_rate.value is not None else -1.0


def _natural(key: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
