"""Reading answers: numbers, choices, text and JSON, as pure functions over strings.

Nothing here knows about plans, runs or models; the checks in `evalspec.checks` are thin
adapters over these functions, which tests and other tools can call directly.
"""

from .choice import Choice, choose, same_option
from .jsonfield import field_check
from .jsonpath import PathError, parse_path, query
from .jsontext import Extracted, extract_json, fences, parse_document
from .jsonvalidate import schema_check
from .numbers import Answer, Mention, compare, final_answer, numbers, parse_number
from .spans import Finding
from .textops import length_check, text_check

__all__ = [
    "Answer", "Choice", "Extracted", "Finding", "Mention", "PathError", "choose", "compare",
    "extract_json", "fences", "field_check", "final_answer", "length_check", "numbers",
    "parse_document", "parse_number", "parse_path", "query", "same_option", "schema_check",
    "text_check",
]
