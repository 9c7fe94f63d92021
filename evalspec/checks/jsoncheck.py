"""`json`: the answer holds valid JSON, valid against a schema, with a field that compares.
Extraction, parsing, schema validation and paths live in `evalspec.extract`."""

from __future__ import annotations

from ..extract.jsonfield import field_check
from ..extract.jsontext import extract_json
from ..extract.jsonvalidate import schema_check
from ..outcome import CheckResult, Status, failed, passed
from ..plan import CaseSpec, CheckSpec
from ..response import ModelResponse
from .base import sync_check


@sync_check("json")
def check_json(spec: CheckSpec, case: CaseSpec, response: ModelResponse) -> CheckResult:
    p = spec.params
    found = extract_json(response.text or "", lenient=bool(p.get("lenient")))
    source = found.evidence()
    if not found.ok:
        return failed("json", found.reason, **source)
    mode = " (lenient)" if found.lenient else ""
    match p["op"]:
        case "valid":
            return passed("json", f"valid JSON{mode}: {found.where}", **source)
        case "schema":
            f = schema_check(found.value, p["schema"])
        case "field":
            f = field_check(found.value, p["path"], p["cmp"], p.get("value"),
                            abs_tol=p.get("abs_tol"), rel_tol=p.get("rel_tol"),
                            ignore_case=bool(p.get("ignore_case")))
        case op:
            raise ValueError(f"unknown json operation {op!r}")
    return CheckResult("json", Status(f.status), f.reason, {**f.evidence, **source})
