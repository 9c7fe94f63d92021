"""The seed article's tools and tool-use cases (S4, S5), built the way the compiler builds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalspec.plan import CaseSpec, CheckSpec, Message, Plan, ToolSpec

TOOLS_FILE = Path(__file__).resolve().parents[2] / "specs" / "tools.py"
SEED_TOOLS = ("calculate_factorial", "calculate_gcd", "is_prime")

PROTOCOL = (
    'Write "Action:", followed by the list of actions you want to call, in the following format:\n'
    """Action:
'''
[
    {
        "tool_name": "Tool name (choose from [calculate_factorial, calculate_gcd, is_prime])",
        "parameters": "Input parameters for the tool"
    }
]
'''
""")
S4_PROMPT = PROTOCOL + "Please help me calculate the factorial of 10 and 8."
S5_PROMPT = PROTOCOL + ("Please help me calculate the factorial of 10 and 8, and then further "
                        "find their greatest common divisor (GCD).")


def _integers(*names: str, doc: str) -> dict[str, Any]:
    return {"type": "object",
            "properties": {n: {"type": "integer", "description": doc} for n in names},
            "required": list(names)}


def seed_tools() -> dict[str, ToolSpec]:
    source = TOOLS_FILE.read_text()

    def tool(name: str, description: str, params: dict[str, Any]) -> ToolSpec:
        return ToolSpec(name, description, params, source, name, "specs/tools.py")

    return {
        "calculate_factorial": tool("calculate_factorial",
                                    "Return n! (the factorial of a non-negative integer n).",
                                    _integers("n", doc="a non-negative integer")),
        "calculate_gcd": tool("calculate_gcd",
                              "Return the greatest common divisor of two integers a and b.",
                              _integers("a", "b", doc="an integer")),
        "is_prime": tool("is_prime", "Return whether the integer n is a prime number.",
                         _integers("n", doc="the number to test")),
    }


def make_case(prompt: str = S4_PROMPT, *, checks: tuple[CheckSpec, ...] = (),
              tools: tuple[str, ...] = SEED_TOOLS, tool_mode: str = "action",
              tool_steps: int = 0) -> CaseSpec:
    return CaseSpec(id="tool_use/S4", suite="tool_use", title="factorials", tags=("tools",),
                    messages=(Message("user", prompt),), params={}, samples=1,
                    models=("m",), checks=checks, tools=tools, tool_mode=tool_mode,
                    tool_steps=tool_steps)


def make_plan(case: CaseSpec, tools: dict[str, ToolSpec] | None = None) -> Plan:
    return Plan(source="specs/seed.eval", models={}, judge=None, rubrics={},
                tools=tools if tools is not None else seed_tools(), cases=(case,))


def calls_spec(*calls: tuple[str, dict[str, list[Any]]], order: str = "any",
               allow_extra: bool = False, source: str = "auto") -> CheckSpec:
    return CheckSpec("calls", {"calls": [{"name": n, "args": a} for n, a in calls],
                               "order": order, "allow_extra": allow_extra, "source": source},
                     label="calls …")
