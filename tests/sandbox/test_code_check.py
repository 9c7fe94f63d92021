"""The `code` check: block extraction, the four modes, and the Tetris probe (seed case S3)."""

from __future__ import annotations

import asyncio
import json

import pytest

import evalspec.checks.code as code_check
from evalspec.checks import lookup, run_check
from evalspec.extract.codeblocks import find_blocks, select_block
from evalspec.outcome import CheckResult, Status
from evalspec.plan import CaseSpec, CheckSpec, Message
from evalspec.response import ModelResponse
from evalspec.sandbox import SandboxError

from .conftest import FIXTURES

FENCE = "```"


def answer(code: str, lang: str = "python", before: str = "Here you go:\n\n") -> str:
    return f"{before}{FENCE}{lang}\n{code}\n{FENCE}\n\nHope this helps."


def case(prompt: str = "Write a function.") -> CaseSpec:
    return CaseSpec("suite/case", "suite", "title", (), (Message("user", prompt),), {}, 1,
                    ("model",), ())


def spec(**params) -> CheckSpec:
    return CheckSpec("code", params, "code check")


async def check(text: str, prompt: str = "Write a function.", **params) -> CheckResult:
    return await run_check(spec(**params), case(prompt), ModelResponse(text), None)


# --- extraction ----------------------------------------------------------------------------------

MULTI = f"""Save this as tetris.py:

{FENCE}python
import pygame
print("game")
{FENCE}

Then install:

{FENCE}bash
pip install pygame
{FENCE}

1. A helper:
   ~~~py title="util.py"
   def helper():
       return 2
   ~~~
"""


def test_blocks_carry_language_name_and_line():
    blocks = find_blocks(MULTI)
    assert [(b.language, b.name, b.line) for b in blocks] == [
        ("python", "tetris.py", 4), ("bash", None, 11), ("py", "util.py", 16)]
    assert blocks[2].code == "def helper():\n    return 2\n"


def test_auto_takes_the_largest_python_block_and_ignores_other_languages():
    sel = select_block(MULTI)
    assert sel is not None and sel.code.startswith("import pygame")
    assert sel.how.startswith("the largest of 2 python blocks")


def test_named_and_tagged_selection():
    assert select_block(MULTI, block="util.py").code.startswith("def helper")
    assert select_block(MULTI, block="./tetris.py").code.startswith("import pygame")
    assert select_block(MULTI, block="bash").code == "pip install pygame\n"
    assert select_block(MULTI, block="missing.py") is None


def test_untagged_block_counts_when_it_parses_as_python():
    text = (f"Code:\n{FENCE}\ndef f(x):\n    return x * 2\n{FENCE}\n"
            f"and output:\n{FENCE}\n4 8 16\n{FENCE}")
    sel = select_block(text)
    assert sel.code == "def f(x):\n    return x * 2\n"


def test_fence_tag_that_is_a_file_name():
    blocks = find_blocks(f"{FENCE}main.py\nprint(1)\n{FENCE}")
    assert (blocks[0].language, blocks[0].name) == ("python", "main.py")


def test_answer_cut_off_inside_a_fence_still_yields_the_code():
    sel = select_block(f"Sure!\n{FENCE}python\nimport os\nprint(os.getcwd())\n")
    assert sel.code == "import os\nprint(os.getcwd())\n"


def test_whole_answer_is_used_when_it_is_bare_python():
    sel = select_block("def add(a, b):\n    return a + b\n")
    assert sel.block is None and "parses as Python" in sel.how
    assert select_block("The answer is 9.9.") is None
    assert select_block("Hello") is None


@pytest.mark.parametrize("text", ["", "\x00\x01\x02" * 1000, "`" * 100_000,
                                  "```python\n" + "(" * 10_000, "a" * 3_000_000])
def test_extraction_never_raises(text):
    select_block(text)


# --- failures before anything runs ---------------------------------------------------------------

async def test_no_code_block_fails_with_a_plain_reason():
    result = await check("I cannot write that program, sorry.", mode="io", stdout="x")
    assert result.status is Status.FAIL
    assert result.reason == "no python code block found"
    assert result.label == "code check"


async def test_missing_named_block_lists_what_is_there():
    result = await check(MULTI, block="game.py", mode="runs")
    assert result.status is Status.FAIL
    assert result.reason.startswith("no code block named 'game.py' found (the answer has: block 1")


async def test_syntax_error_fails_with_its_line():
    result = await check(answer("def f(x):\n    return x +\n"), mode="io", stdout="")
    assert result.status is Status.FAIL
    assert result.reason == "the code does not parse: invalid syntax at line 2: return x +"
    assert result.evidence["syntax_error"]["line"] == 2


async def test_missing_requirement_is_an_error_not_a_failure():
    result = await check(answer("print(1)"), mode="io", stdout="1",
                         requirements=["surely-not-installed-pkg>=1"])
    assert result.status is Status.ERROR
    assert "surely-not-installed-pkg" in result.reason


async def test_sandbox_failure_is_an_error(monkeypatch):
    async def broken(*args, **kwargs):
        raise SandboxError("sandbox setup failed: unshare: Operation not permitted")

    monkeypatch.setattr(code_check, "run_python", broken)
    result = await check(answer("print(1)"), mode="io", stdout="1")
    assert result.status is Status.ERROR
    assert result.reason == ("the sandbox failed: sandbox setup failed: unshare: Operation not "
                             "permitted")


def test_the_check_is_registered():
    assert lookup("code") is code_check.check_code


@pytest.mark.parametrize("text", ["", "\x00" * 50, "".join(map(chr, range(1, 300))) * 100,
                                  answer("(" * 5000), answer("\x00bad")])
async def test_garbage_answers_fail_without_raising(text):
    result = await check(text, mode="io", stdout="x")
    assert result.status is Status.FAIL, result.reason


# --- tests mode ----------------------------------------------------------------------------------

HUMANEVAL_TESTS = '''
METADATA = {"author": "jt", "dataset": "test"}


def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
'''
GOOD = '''
def has_close_elements(numbers, threshold):
    for i, a in enumerate(numbers):
        for b in numbers[i + 1:]:
            if abs(a - b) < threshold:
                return True
    return False


if __name__ == "__main__":
    print(has_close_elements([1.0, 2.0], float(input())))
'''


async def test_humaneval_style_check_is_called_with_the_only_function():
    result = await check(answer(GOOD), mode="tests", tests=HUMANEVAL_TESTS)
    assert result.status is Status.PASS, result.reason
    assert result.reason == "the tests passed (check(has_close_elements))"


async def test_entry_point_from_the_prompt_or_a_comment_when_there_are_helpers():
    helpers = GOOD + "\n\ndef unrelated():\n    return 0\n"
    prompt = "Complete: def has_close_elements(numbers, threshold) -> bool"
    assert (await check(answer(helpers), prompt, mode="tests",
                        tests=HUMANEVAL_TESTS)).status is Status.PASS
    commented = "# entry: has_close_elements\n" + HUMANEVAL_TESTS
    assert (await check(answer(helpers), mode="tests", tests=commented)).status is Status.PASS
    unknown = await check(answer(helpers), mode="tests", tests=HUMANEVAL_TESTS)
    assert unknown.status is Status.ERROR and "# entry: <function name>" in unknown.reason


async def test_failing_assertion_names_the_test_line():
    wrong = GOOD.replace("< threshold", "<= threshold * 0")
    result = await check(answer(wrong), mode="tests", tests=HUMANEVAL_TESTS)
    assert result.status is Status.FAIL
    assert result.reason == ("the tests failed: AssertionError at tests.py line 6: "
                             "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True")


async def test_crash_inside_the_solution_points_at_the_solution():
    result = await check(answer("def f(x):\n    return x / 0\n"), mode="tests",
                         tests="assert f(1) == 1\n")
    assert result.reason == ("the tests failed: ZeroDivisionError: division by zero at "
                             "solution.py line 2: return x / 0")


async def test_unittest_cases_and_test_functions_are_run():
    tests = ("import unittest\n\nclass T(unittest.TestCase):\n"
             "    def test_add(self):\n        self.assertEqual(add(2, 2), 4)\n\n"
             "def test_plain():\n    from solution import add\n    assert add(1, 1) == 2\n")
    ok = await check(answer("def add(a, b):\n    return a + b\n"), mode="tests", tests=tests)
    assert ok.status is Status.PASS, ok.reason
    assert ok.evidence["ran"] == "unittest: T; test_plain"
    bad = await check(answer("def add(a, b):\n    return a - b\n"), mode="tests", tests=tests)
    assert bad.status is Status.FAIL


async def test_tests_that_loop_forever_time_out():
    result = await check(answer("def f():\n    while True:\n        pass\n"), mode="tests",
                         tests="f()\n", timeout_s=1)
    assert result.status is Status.FAIL
    assert result.reason.startswith("the tests failed: timed out after 1 s (stuck at solution.py")


# --- io mode -------------------------------------------------------------------------------------

COMPOSE = "x = int(input())\ng = x ** 0.5 + 3\nprint(int(g * g + 2 * g + 1))   \n"


async def test_io_compares_stdout_ignoring_trailing_whitespace():
    result = await check(answer(COMPOSE), mode="io", stdin="1\n", stdout="25\n\n")
    assert result.status is Status.PASS, result.reason
    assert result.reason == "stdout matches the expected output (1 lines)"


async def test_io_reports_the_first_differing_line():
    result = await check(answer("print('a')\nprint('c')"), mode="io", stdout="a\nb\n")
    assert result.status is Status.FAIL
    assert result.reason == "stdout differs at line 2: expected 'b', got 'c'"
    short = await check(answer("print('a')"), mode="io", stdout="a\nb\n")
    assert short.reason == "stdout differs at line 2: expected 'b', got nothing"


async def test_io_program_that_crashes_or_waits_for_input():
    crash = await check(answer("int('x')"), mode="io", stdout="1")
    assert crash.status is Status.FAIL
    assert crash.reason.startswith("the program failed: ValueError: invalid literal")
    eof = await check(answer("input()"), mode="io", stdout="1")
    assert "EOFError" in eof.reason


# --- pytest mode ---------------------------------------------------------------------------------

PYTEST_FILE = '''
from solution import gcd


def test_small():
    assert gcd(12, 8) == 4


def test_factorials():
    assert gcd(3628800, 40320) == 40320
'''


async def test_pytest_passes_and_fails_with_the_failing_test():
    good = await check(answer("import math\n\ndef gcd(a, b):\n    return math.gcd(a, b)\n"),
                       mode="pytest", pytest=PYTEST_FILE)
    assert good.status is Status.PASS, good.reason
    assert good.reason.startswith("pytest: 2 passed")
    bad = await check(answer("def gcd(a, b):\n    return min(a, b)\n"), mode="pytest",
                      pytest=PYTEST_FILE)
    assert bad.status is Status.FAIL
    assert "1 failed, 1 passed" in bad.reason
    assert "FAILED test_solution.py::test_small" in bad.reason


async def test_pytest_collection_error_is_the_models_failure():
    result = await check(answer("def greatest_common_divisor(a, b):\n    return 1\n"),
                         mode="pytest", pytest=PYTEST_FILE)
    assert result.status is Status.FAIL
    assert "ImportError" in result.reason or "error" in result.reason


async def test_pytest_file_without_tests_is_an_error():
    result = await check(answer("x = 1"), mode="pytest", pytest="import solution\n")
    assert result.status is Status.ERROR
    assert result.reason == "the spec's pytest file collected no tests"


# --- runs mode without a display -----------------------------------------------------------------

async def test_runs_survives_finishes_or_crashes():
    server = "import time\nwhile True:\n    time.sleep(0.05)\n"
    ok = await check(answer(server), mode="runs", duration_s=1.0)
    assert ok.status is Status.PASS and ok.reason == "ran 1 s without crashing"
    quick = await check(answer("print('done')"), mode="runs", duration_s=1.0)
    assert quick.status is Status.PASS and quick.reason.startswith("finished after")
    crash = await check(answer("import time\ntime.sleep(0.3)\nraise RuntimeError('boom')\n"),
                        mode="runs", duration_s=2.0)
    assert crash.status is Status.FAIL
    assert crash.reason.startswith("crashed after 0.")
    assert crash.reason.endswith("RuntimeError: boom at solution.py line 3: "
                                 "raise RuntimeError('boom')")


async def test_runs_probe_can_inspect_the_program():
    game = "import time\nscore = 0\nwhile True:\n    score += 1\n    time.sleep(0.01)\n"
    ok = await check(answer(game), mode="runs", duration_s=0.8,
                     probe="assert score > 10, f'score only {score}'")
    assert ok.status is Status.PASS, ok.reason
    bad = await check(answer(game), mode="runs", duration_s=0.8,
                      probe="assert score < 0, f'score is {score}'")
    assert bad.status is Status.FAIL
    assert bad.reason.startswith("ran 0.8 s without crashing but the probe failed: "
                                 "AssertionError: score is")


async def test_a_hung_program_is_reported_as_hung():
    # Holding the GIL in one C call: even the probe's watchdog thread cannot run.
    hung = "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')\n"
    result = await check(answer(hung), mode="runs", duration_s=0.5, timeout_s=1)
    assert result.status is Status.FAIL
    assert result.reason.startswith("the program hung")


# --- the Tetris probe (S3) -----------------------------------------------------------------------

TETRIS = {
    "pygame_good": ("tetris_pygame.py", "pygame"),
    "pygame_deaf": ("tetris_pygame_deaf.py", "pygame"),
    "pygame_crash": ("tetris_pygame_crash.py", "pygame"),
    "curses_good": ("tetris_curses.py", "curses"),
    "curses_deaf": ("tetris_curses_deaf.py", "curses"),
}


@pytest.fixture(scope="module")
def tetris() -> dict[str, CheckResult]:
    """All Tetris runs at once (each takes its full duration), shared by the tests below."""

    async def one(path: str, display: str) -> CheckResult:
        code = (FIXTURES / path).read_text()
        params = {"mode": "runs", "display": display, "duration_s": 4.0,
                  "events": ["LEFT", "RIGHT", "UP", "SPACE"], "requirements": ["pygame"]}
        return await check(answer(code, before="Here is a Tetris game in Python.\n\n"),
                           "Write a python Tetris game", **params)

    async def run_all() -> dict[str, CheckResult]:
        results = await asyncio.gather(*(one(*v) for v in TETRIS.values()))
        return dict(zip(TETRIS, results, strict=True))

    return asyncio.run(run_all())


def test_working_pygame_tetris_passes(tetris):
    result = tetris["pygame_good"]
    assert result.status is Status.PASS, result.reason
    assert result.reason.startswith("ran 4 s without crashing (")
    assert result.reason.endswith("frames); the screen responded to LEFT, RIGHT, UP, SPACE")
    observed = result.evidence["observed"]
    assert observed["keys"]["LEFT"]["moved"] >= 1
    assert observed["size"] == [240, 480]
    assert observed["caption"] == "Tetris"
    json.dumps(result.to_json())


def test_deaf_pygame_tetris_fails_although_its_screen_keeps_changing(tetris):
    result = tetris["pygame_deaf"]
    assert result.status is Status.FAIL
    assert "but the screen did not respond to LEFT, RIGHT, UP, SPACE" in result.reason
    observed = result.evidence["observed"]
    assert observed["controls"]["changed"] >= 1  # pieces fall on their own
    assert observed["keys"]["LEFT"]["moved"] == 0


def test_crashing_pygame_tetris_fails_with_its_traceback(tetris):
    result = tetris["pygame_crash"]
    assert result.status is Status.FAIL
    assert result.reason.startswith("crashed after ")
    assert "IndexError: list index out of range at solution.py line 12" in result.reason


def test_curses_tetris_is_driven_through_a_terminal(tetris):
    result = tetris["curses_good"]
    assert result.status is Status.PASS, result.reason
    assert result.evidence["observed"]["output_bytes"] > 0
    assert "|" in result.evidence["observed"]["screen_tail"]


def test_curses_tetris_without_keypad_ignores_the_arrows(tetris):
    result = tetris["curses_deaf"]
    assert result.status is Status.FAIL
    assert "did not respond to" in result.reason


async def test_unknown_key_name_is_a_spec_error():
    code = (FIXTURES / "tetris_pygame.py").read_text()
    result = await check(answer(code), mode="runs", display="pygame", duration_s=1.0,
                         events=["LEFTISH"])
    assert result.status is Status.ERROR
    assert result.reason == "unknown key name 'LEFTISH' for pygame"


async def test_pygame_program_that_never_draws_fails():
    code = "import pygame, time\npygame.init()\nwhile True:\n    time.sleep(0.05)\n"
    result = await check(answer(code), mode="runs", display="pygame", duration_s=1.0)
    assert result.status is Status.FAIL
    assert result.reason == ("ran 1 s without crashing but never drew a frame "
                             "(no pygame.display.flip or update)")


# --- the probe's decision rule -------------------------------------------------------------------

def _windows(key: str | None, changes: list[bool], dx: float | None = None) -> list[dict]:
    return [{"key": key, "changed": c, "closed": True, "dx": dx if c else None} for c in changes]


def test_a_key_counts_only_when_it_beats_the_control_windows():
    from evalspec.checks.harness.interact import beyond_chance, summarise

    calm = _windows(None, [False] * 8)
    assert summarise(calm + _windows("UP", [True, True]), ["UP"])["keys"]["UP"]["responded"]
    one_of_two = summarise(calm + _windows("UP", [True, False]), ["UP"])["keys"]["UP"]
    assert not one_of_two["responded"]
    assert one_of_two["why"] == ("1 of 2 presses changed the screen, against 0 of 8 windows "
                                 "without input")
    busy = _windows(None, [True] * 8)
    assert not summarise(busy + _windows("UP", [True] * 4), ["UP"])["keys"]["UP"]["responded"]
    # A square piece does not rotate: two quiet rounds out of four still pass.
    assert beyond_chance(2, 4, 0, 16) and beyond_chance(3, 4, 0, 16)
    assert not beyond_chance(1, 1, 0, 16)


def test_sideways_shift_decides_left_and_right_when_everything_moves():
    from evalspec.checks.harness.interact import summarise

    falling = _windows(None, [True] * 8, dx=0.0)
    moved = summarise(falling + _windows("LEFT", [True] * 3, dx=-24.0), ["LEFT"])
    assert moved["keys"]["LEFT"] | {"why": ""} == {
        "presses": 3, "changed": 3, "moved": 3, "responded": True, "why": ""}
    wrong_way = summarise(falling + _windows("LEFT", [True] * 3, dx=24.0), ["LEFT"])
    assert not wrong_way["keys"]["LEFT"]["responded"]


def test_schedule_alternates_controls_and_keys_in_rounds():
    from evalspec.checks.harness.interact import SPACING_S, build_schedule

    plan = build_schedule(["LEFT", "UP"], duration=10.0, start=1.0)
    assert [k for _, k in plan[:4]] == [None, "LEFT", None, "UP"]
    assert len(plan) == 4 * 4  # capped at four rounds
    assert plan[1][0] - plan[0][0] == pytest.approx(SPACING_S)
    assert build_schedule([], 10.0, 1.0) == []


async def test_curses_program_that_crashes_shows_its_traceback():
    code = ("import curses, time\n\ndef main(stdscr):\n    stdscr.addstr(0, 0, 'starting')\n"
            "    stdscr.refresh()\n    time.sleep(0.3)\n    raise KeyError('board')\n\n"
            "curses.wrapper(main)\n")
    result = await check(answer(code), mode="runs", display="curses", duration_s=2.0,
                         events=["LEFT"])
    assert result.status is Status.FAIL
    assert result.reason.startswith("crashed after 0.")
    assert result.reason.endswith("KeyError: 'board' at solution.py line 7: "
                                  "raise KeyError('board')")


async def test_block_name_is_importable_unless_it_would_shadow_a_module():
    ok = await check(answer("def gcd(a, b):\n    return 4\n", before="mathx.py:\n"),
                     mode="tests", tests="from mathx import gcd\nassert gcd(12, 8) == 4\n")
    assert ok.status is Status.PASS, ok.reason
    # A block called json.py must not replace the json module the probe itself imports.
    shadow = await check(answer("print('hi')\n", before="json.py:\n"), mode="runs",
                         duration_s=1.0)
    assert shadow.status is Status.PASS, shadow.reason
    assert shadow.reason.startswith("finished after")
    assert shadow.evidence["block"]["name"] == "json.py"
