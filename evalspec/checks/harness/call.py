"""Call one function of a module and write the outcome as JSON. Runs inside the sandbox.

usage: call.py MODULE.py CALL.json REPORT.json
CALL.json holds {"function": name, "kwargs": {...}}; REPORT.json receives
{"ok": true, "value_json": "..."} or {"ok": false, "error": "ZeroDivisionError: ..."}.
"""

import asyncio
import importlib.util
import inspect
import json
import os
import sys
import traceback


def _fallback(value):
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return repr(value)


def _call(module_path, function, kwargs):
    name = os.path.splitext(os.path.basename(module_path))[0]
    spec = importlib.util.spec_from_file_location(name, module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    fn = getattr(module, function, None)
    if not callable(fn):
        return {"ok": False, "error": f"{os.path.basename(module_path)} defines no function "
                                      f"{function!r}"}
    value = fn(**kwargs)
    if inspect.isawaitable(value):
        value = asyncio.run(_await(value))
    return {"ok": True, "value_json": json.dumps(value, default=_fallback, ensure_ascii=False)}


async def _await(value):
    return await value


def main():
    module_path, call_path, report_path = sys.argv[1:4]
    # Tools compute things like 100!; the default cap on int -> str would turn that into an error.
    sys.set_int_max_str_digits(0)
    with open(call_path, encoding="utf-8") as f:
        call = json.load(f)
    try:
        result = _call(module_path, call["function"], call["kwargs"])
    except BaseException as exc:  # SystemExit too: whatever stopped the call is its error
        result = {"ok": False, "error": traceback.format_exception_only(type(exc), exc)[-1].strip()}
    tmp = report_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, report_path)


if __name__ == "__main__":
    main()
