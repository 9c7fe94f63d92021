"""JSON Schema validation that reports every violation, each with its path.

The draft is the one the schema declares with `$schema` (Draft 2020-12 when it declares none or
one jsonschema does not know, which the evidence notes). `format` is asserted with jsonschema's
dependency-free format checker (email, date, ipv4, ipv6, uuid, regex, ...), since a spec that
writes `"format": "email"` means it.
"""

from __future__ import annotations

from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from .jsonpath import render
from .spans import Finding, shorten

MAX_ERRORS = 1000
"""Violations kept; an array of a million bad items still says how many it found."""


def _path_key(path: Any) -> tuple[tuple[int, Any], ...]:
    # Integers sort before strings at the same depth, so mixed paths never compare int to str.
    return tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in path)


def schema_check(instance: Any, schema: Any) -> Finding:
    """Validate `instance` against `schema`: pass, fail with every violation, or error when the
    schema itself is invalid or cannot be applied."""
    if not isinstance(schema, dict | bool):
        return Finding.error(f"the schema must be a JSON object, not {type(schema).__name__}")
    note = ""
    cls = Draft202012Validator
    if isinstance(schema, dict) and "$schema" in schema:
        declared = validator_for(schema, default=cast(Any, None))
        if declared is None:
            note = (f"unknown $schema {shorten(str(schema['$schema']), 80)!r}; "
                    "validated as Draft 2020-12")
        else:
            cls = declared
    version = cls.__name__.removesuffix("Validator").removeprefix("Draft")
    draft = f"Draft {version[:4]}-{version[4:]}" if len(version) == 6 else f"Draft {version}"
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        return Finding.error(f"the schema is invalid at {exc.json_path}: "
                             f"{shorten(exc.message, 200)}", draft=draft)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors: list[dict[str, Any]] = []
    total = 0
    try:
        for err in validator.iter_errors(instance):
            total += 1
            if len(errors) < MAX_ERRORS:
                errors.append({"path": render(list(err.absolute_path)),
                               "message": shorten(err.message, 200), "keyword": err.validator,
                               "_key": _path_key(err.absolute_path)})
    except RecursionError:
        return Finding.fail("the document is nested too deeply to validate", draft=draft)
    except Exception as exc:  # unresolvable $ref and the like: the schema's fault
        return Finding.error(f"the schema could not be applied: {shorten(str(exc), 200)}",
                             draft=draft)
    errors.sort(key=lambda e: (e.pop("_key"), e["message"]))
    ev: dict[str, Any] = {"draft": draft, "errors": errors, "error_count": total}
    if note:
        ev["note"] = note
    if not errors:
        return Finding.ok(f"valid against the schema ({draft})", **ev)
    listed = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3])
    more = f"; and {total - 3} more" if total > 3 else ""
    plural = "violation" if total == 1 else "violations"
    return Finding.fail(f"{total} schema {plural}: {listed}{more}", **ev)
