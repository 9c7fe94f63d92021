"""`text`: contains / matches / starts_with / ends_with / equals / length on the answer text.
The matching and its near-miss hints live in `evalspec.extract.textops`."""

from __future__ import annotations

from ..extract.textops import length_check, text_check
from ..outcome import CheckResult, Status
from ..plan import CaseSpec, CheckSpec
from ..response import ModelResponse
from .base import sync_check


@sync_check("text")
def check_text(spec: CheckSpec, case: CaseSpec, response: ModelResponse) -> CheckResult:
    p = spec.params
    text = response.text or ""
    if p["op"] == "length":
        f = length_check(text, p["unit"], p.get("min"), p.get("max"))
    else:
        f = text_check(text, p["op"], str(p["value"]), ignore_case=bool(p.get("ignore_case")),
                       normalize=bool(p.get("normalize")))
    return CheckResult("text", Status(f.status), f.reason, f.evidence)
