"""The LLM judge: rubric -> prompt -> structured verdict -> aggregate, pairwise, calibration.

Import from the submodules; this package re-exports the pieces other parts of evalspec use.
Nothing here imports a provider: judge calls go through the runner's `CheckContext.generate`.
"""

from .aggregate import AGGREGATES, Aggregate, aggregate
from .prompt import JudgePrompt, render_pairwise, render_single
from .verdict import PairVerdict, Verdict, parse_pair_verdict, parse_verdict, verdict_schema

__all__ = [
    "AGGREGATES", "Aggregate", "JudgePrompt", "PairVerdict", "Verdict", "aggregate",
    "parse_pair_verdict", "parse_verdict", "render_pairwise", "render_single", "verdict_schema",
]
