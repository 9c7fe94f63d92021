"""`evalspec diff RUN_A RUN_B`: what changed between two runs of the same spec.

Results are paired by case, model and sample. A result that passed in A and not in B
regressed; the reverse improved. Per model, the change in pass rate over the paired results
comes with a paired bootstrap interval and an exact McNemar test, so a one-case wobble is not
mistaken for a trend.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .. import stats
from ..reports.model import CheckView, short_value

Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Change:
    case_id: str
    model: str
    sample: int
    before: str
    after: str
    reason: str
    """Why B's result is what it is: the deciding check's reason (or the error)."""
    case_changed: bool
    """The case's definition (prompt, checks) differs between the runs."""

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "model": self.model, "sample": self.sample,
                "before": self.before, "after": self.after, "reason": self.reason,
                "case_changed": self.case_changed}


@dataclass(frozen=True, slots=True)
class ModelDelta:
    model: str
    n: int
    passed_a: int
    passed_b: int
    difference: stats.Estimate
    test: stats.PairedTest

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "n": self.n, "passed_a": self.passed_a,
                "passed_b": self.passed_b, "difference": self.difference.to_json(),
                "mcnemar": self.test.to_json()}


@dataclass(slots=True)
class RunDiff:
    run_a: str
    run_b: str
    regressed: list[Change] = field(default_factory=list)
    improved: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    """Status changed without crossing pass (fail -> error, say)."""
    added: list[Key] = field(default_factory=list)
    removed: list[Key] = field(default_factory=list)
    models: list[ModelDelta] = field(default_factory=list)
    unchanged: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "evalspec.diff", "schema_version": 1, "run_a": self.run_a,
            "run_b": self.run_b, "regressed": [c.to_json() for c in self.regressed],
            "improved": [c.to_json() for c in self.improved],
            "changed": [c.to_json() for c in self.changed],
            "added": [list(k) for k in self.added], "removed": [list(k) for k in self.removed],
            "unchanged": self.unchanged, "models": [m.to_json() for m in self.models],
        }


def _index(doc: Mapping[str, Any]) -> dict[Key, Mapping[str, Any]]:
    return {(str(r.get("case_id")), str(r.get("model")), int(r.get("sample") or 0)): r
            for r in doc.get("results") or ()}


def _reason(result: Mapping[str, Any]) -> str:
    if result.get("error"):
        return f"model call failed: {result['error']}"
    status = result.get("status")
    for c in result.get("checks") or ():
        view = CheckView.from_json(c)
        if view.status.value == status and status != "pass":
            return f"{short_value(view.title, 60)}: {view.reason}"
    return "all checks passed" if status == "pass" else str(status)


def compute_diff(a: Mapping[str, Any], b: Mapping[str, Any], *,
                 alpha: float = stats.DEFAULT_ALPHA) -> RunDiff:
    ia, ib = _index(a), _index(b)
    out = RunDiff(str(a.get("run_id", "A")), str(b.get("run_id", "B")))
    per_model: dict[str, tuple[list[bool], list[bool]]] = {}
    for key in ia.keys() & ib.keys():
        ra, rb = ia[key], ib[key]
        sa, sb = str(ra.get("status")), str(rb.get("status"))
        pa, pb = per_model.setdefault(key[1], ([], []))
        pa.append(sa == "pass")
        pb.append(sb == "pass")
        if sa == sb:
            out.unchanged += 1
            continue
        change = Change(*key, sa, sb, _reason(rb),
                        bool(ra.get("case_hash")) and ra.get("case_hash") != rb.get("case_hash"))
        if sa == "pass":
            out.regressed.append(change)
        elif sb == "pass":
            out.improved.append(change)
        else:
            out.changed.append(change)
    order = {k: i for i, k in enumerate([*ia, *ib])}
    for bucket in (out.regressed, out.improved, out.changed):
        bucket.sort(key=lambda c: order[(c.case_id, c.model, c.sample)])
    out.added = sorted(ib.keys() - ia.keys(), key=order.__getitem__)
    out.removed = sorted(ia.keys() - ib.keys(), key=order.__getitem__)
    for model, (pa, pb) in per_model.items():
        out.models.append(ModelDelta(
            model, len(pa), sum(pa), sum(pb),
            stats.paired_difference([float(x) for x in pa], [float(x) for x in pb]),
            stats.mcnemar_exact(pa, pb, name_a=f"{model} in A", name_b=f"{model} in B",
                                alpha=alpha)))
    out.models.sort(key=lambda m: m.model)
    return out


def render_text(d: RunDiff) -> str:
    lines = [f"diff {d.run_a} (A) → {d.run_b} (B)", ""]
    for m in d.models:
        diff = stats.format_interval(m.difference, percent=True, signed=True)
        verdict = ("significant change" if m.test.significant
                   else "no significant change")
        lines.append(f"{m.model}: {m.passed_a}/{m.n} → {m.passed_b}/{m.n} passed, "
                     f"{diff} (paired bootstrap 95%); McNemar exact "
                     f"{stats.format_p(m.test.p_value)}: {verdict}")
        if m.test.warning:
            lines.append(f"  ⚠ {m.test.warning}")
    for title, bucket in (("regressed", d.regressed), ("improved", d.improved),
                          ("changed", d.changed)):
        if bucket:
            lines += ["", f"{title} ({len(bucket)}):"]
            for c in bucket:
                note = "  [the case changed between the runs]" if c.case_changed else ""
                lines.append(f"  {c.case_id} [{c.model}#{c.sample}] {c.before} → {c.after}: "
                             f"{short_value(c.reason, 160)}{note}")
    for title, keys in (("only in B", d.added), ("only in A", d.removed)):
        if keys:
            lines += ["", f"{title} ({len(keys)}): "
                      + ", ".join(f"{k[0]} [{k[1]}#{k[2]}]" for k in keys[:20])
                      + (" …" if len(keys) > 20 else "")]
    lines += ["", f"{len(d.regressed)} regressed, {len(d.improved)} improved, "
                  f"{len(d.changed)} otherwise changed, {d.unchanged} unchanged"]
    return "\n".join(lines) + "\n"


@click.command("diff")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B", required=False, default="latest")
@click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Read runs from DIR instead of ./.evalspec.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True)
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when any result regressed (for CI gates).")
def diff(run_a: str, run_b: str, store_dir: Path | None, fmt: str, alpha: float,
         fail_on_regression: bool) -> None:
    """Show the cases that regressed or improved from RUN_A to RUN_B (default: the latest
    run), and the change in pass rate with its confidence interval. Runs are ids, unique
    parts of ids, `latest`, or results JSON files."""
    from .report import load_runs

    docs = load_runs([run_a, run_b], store_dir=store_dir)
    result = compute_diff(docs[0], docs[1], alpha=alpha)
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_text(result))
    if fail_on_regression and result.regressed:
        raise click.exceptions.Exit(1)


__all__ = ["Change", "ModelDelta", "RunDiff", "compute_diff", "diff", "render_text"]
