"""Whether a judge's verdicts may decide a run's exit code.

A rubric can demand a measured agreement with its golden examples (`min_agreement`) before
its judge may gate CI. `evalspec calibrate` stores that measurement per rubric version; a
run reads it here. A judge below the bar still scores and is still reported, but its verdicts
do not decide the exit code. Gating on a judge that was never calibrated is allowed, with a
warning, since the literature is clear that uncalibrated judges mislead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .outcome import Status, combine_status
from .plan import Plan


@dataclass(frozen=True)
class JudgeGate:
    excluded: frozenset[str] = frozenset()
    """Rubrics whose verdicts must not decide the exit code."""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def judged_rubrics(plan: Plan) -> list[str]:
    used = {check.params["rubric"] for case in plan.cases for spec in case.checks
            for check in spec.walk() if check.kind in ("judge", "pairwise")}
    return sorted(used)


def judge_gate(plan: Plan, store_dir: Path) -> JudgeGate:
    from .commands.calibrate import calibration_record

    excluded: set[str] = set()
    warnings: list[str] = []
    uncalibrated: list[str] = []
    for rubric_id in judged_rubrics(plan):
        rubric = plan.rubrics[rubric_id]
        record = calibration_record(store_dir, rubric)
        if rubric.min_agreement is not None:
            if record is not None and record.get("meets"):
                continue
            excluded.add(rubric_id)
            measured = _figure(record)
            state = ("was never calibrated in this version" if record is None else
                     f"agrees {measured} with the golden examples")
            warnings.append(
                f"rubric {rubric_id} needs agreement >= {rubric.min_agreement:g} before its "
                f"judge decides the exit code, but the judge {state}: its verdicts are "
                f"reported but do not decide the exit code (run `evalspec calibrate`)")
        elif record is None:
            uncalibrated.append(rubric_id)
    if uncalibrated:
        warnings.append(
            "the exit code depends on judges never calibrated against their golden examples ("
            + ", ".join(uncalibrated) + "); run `evalspec calibrate` on the spec to measure "
            "them, and set `min_agreement` on a rubric to require it")
    return JudgeGate(frozenset(excluded), tuple(warnings))


def _figure(record: Mapping[str, Any] | None) -> str:
    agreement = (record or {}).get("agreement") or {}
    value = agreement.get("within_one", agreement.get("exact"))
    return "an unknown amount" if value is None else f"{value:.0%}"


def _drop_excluded(checks: Iterable[Mapping[str, Any]], excluded: frozenset[str],
                   rubric_of: Mapping[str, str]) -> list[Status]:
    statuses = []
    for check in checks:
        if check.get("kind") == "judge" and rubric_of.get(check.get("label", "")) in excluded:
            continue
        statuses.append(Status(check["status"]))
    return statuses


def gated_exit_code(doc: Mapping[str, Any], plan: Plan, gate: JudgeGate,
                    fail_under: float | None) -> int:
    """The exit code of a stored run (the results JSON) with the excluded rubrics' judge
    verdicts left out: 3 errors or missing results, 1 failures, 0 success."""
    rubric_of = {check.label: check.params["rubric"] for case in plan.cases
                 for spec in case.checks for check in spec.walk() if check.kind == "judge"}
    statuses: list[Status] = []
    for result in doc["results"]:
        if result.get("error"):
            statuses.append(Status.ERROR)
            continue
        kept = _drop_excluded(result.get("checks", ()), gate.excluded, rubric_of)
        statuses.append(combine_status(kept) if kept else Status.PASS)
    pairwise = [p for p in doc.get("pairwise", ()) if p.get("rubric") not in gate.excluded]
    expected = sum(c.samples * len(c.models) for c in plan.cases)
    if Status.ERROR in statuses or any(p.get("status") == "error" for p in pairwise) \
            or len(doc["results"]) < expected:
        return 3
    decided = [s for s in statuses if s in (Status.PASS, Status.FAIL, Status.UNSCORED)]
    if fail_under is not None:
        rate = sum(s is Status.PASS for s in decided) / len(decided) if decided else 0.0
        return 0 if rate >= fail_under else 1
    return 1 if any(s is not Status.PASS for s in statuses) else 0
