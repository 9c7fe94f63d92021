"""Run a solution and its tests in one namespace, HumanEval style. Runs inside the sandbox.

usage: run_tests.py SOLUTION.py TESTS.py [--check ENTRY] [--unittest] [--test-functions]

The solution runs first under the name `solution` (so its `if __name__ == "__main__":` demo
does not run), then the tests run as `__main__` in the same namespace, so they see the
solution's functions directly or via `from solution import ...`. The flags say what to call
afterwards when the tests only define things: `check(ENTRY)`, the unittest TestCases, or
every `test_*` function. Failures surface as a traceback and a non-zero exit code.
"""

import builtins
import os
import sys
import types
import unittest


def _exec(path, namespace):
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), namespace)


def main():
    solution, tests, *opts = sys.argv[1:]
    module = types.ModuleType("__main__")
    module.__file__ = os.path.abspath(solution)
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    sys.modules["solution"] = module
    sys.argv = [solution]
    ns = module.__dict__
    ns["__name__"] = "solution"
    _exec(solution, ns)
    ns["__name__"] = "__main__"
    before = dict(ns)
    _exec(tests, ns)
    if "--check" in opts:
        entry = opts[opts.index("--check") + 1]
        if entry not in ns:
            sys.exit(f"the solution defines no {entry!r} for check({entry})")
        ns["check"](ns[entry])
        print(f"[evalspec] check({entry}) passed")
    if "--unittest" in opts:
        loader = unittest.defaultTestLoader
        suite = unittest.TestSuite(
            loader.loadTestsFromTestCase(obj) for name, obj in list(ns.items())
            if before.get(name) is not obj and isinstance(obj, type)
            and issubclass(obj, unittest.TestCase))
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
        if not result.wasSuccessful():
            sys.exit(1)
    if "--test-functions" in opts:
        for name, fn in list(ns.items()):
            # Only the tests' own test functions: the solution may have some of its own.
            mine = before.get(name) is not fn
            if mine and name.startswith("test_") and callable(fn) and not isinstance(fn, type):
                fn()
                print(f"[evalspec] {name} passed")


if __name__ == "__main__":
    main()
