"""What a check decides: a status, a reason a person reads at a glance, and the evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    # The check itself could not run (sandbox failure, endpoint gone, ...): not the model's fault.
    ERROR = "error"
    # A judge gave no usable verdict. Never counted as a pass or as a minimum score.
    UNSCORED = "unscored"


@dataclass(frozen=True, slots=True)
class CheckResult:
    kind: str
    status: Status
    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """JSON-serialisable facts behind the verdict: the value found, schema errors, stdout."""
    label: str = ""
    """The expectation as the spec wrote it, e.g. `number == 25`."""
    score: float | None = None
    """Numeric score where the check has one (judges)."""
    children: tuple[CheckResult, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "label": self.label,
            "status": self.status.value,
            "reason": self.reason,
            "evidence": dict(self.evidence),
        }
        if self.score is not None:
            out["score"] = self.score
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            kind=data["kind"],
            status=Status(data["status"]),
            reason=data["reason"],
            evidence=data.get("evidence", {}),
            label=data.get("label", ""),
            score=data.get("score"),
            children=tuple(cls.from_json(c) for c in data.get("children", ())),
        )


def passed(kind: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(kind, Status.PASS, reason, evidence)


def failed(kind: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(kind, Status.FAIL, reason, evidence)


def errored(kind: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(kind, Status.ERROR, reason, evidence)


def combine_status(statuses: list[Status]) -> Status:
    """The status of a case from its checks: any error wins, then unscored, then fail."""
    if not statuses:
        return Status.ERROR
    for s in (Status.ERROR, Status.UNSCORED, Status.FAIL):
        if s in statuses:
            return s
    return Status.PASS
