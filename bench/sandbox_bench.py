"""Sandbox benchmark: what the code check costs on top of just running Python.

    python bench/sandbox_bench.py [--runs 40] [--parallel 40]

1. Sequential, a trivial program (`print("hi")`) through the same path the `code` check
   takes: block extraction, syntax check, the sandbox (namespaces, uid switch, rlimits,
   capped pipes, leftover scan, clean-up) and the verdict. Median start-to-verdict time.
2. The same program through `run_python` alone, and through plain `subprocess.run` (the
   baseline: one bare interpreter start). The difference is the isolation's overhead.
3. Parallel: `--parallel` checks at once (the sandbox admits one per core), against the same
   number of plain `subprocess.run` calls on as many threads. Runs per second and the ratio.

Prints a table, then as its last line one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evalspec.checks import run_check  # noqa: E402
from evalspec.outcome import Status  # noqa: E402
from evalspec.plan import CaseSpec, CheckSpec, Message  # noqa: E402
from evalspec.response import ModelResponse  # noqa: E402
from evalspec.sandbox import isolation, run_python  # noqa: E402

TRIVIAL = 'print("hi")'
ANSWER = ModelResponse(f"Sure:\n\n```python\n{TRIVIAL}\n```\n")
SPEC = CheckSpec("code", {"language": "python", "block": "auto", "mode": "io", "stdin": None,
                          "stdout": "hi", "timeout_s": 10, "memory_mb": 512}, "prints hi")
CASE = CaseSpec("bench/trivial", "bench", "trivial", (), (Message("user", "print hi"),), {}, 1,
                ("model",), ())


async def one_check() -> float:
    start = time.perf_counter()
    result = await run_check(SPEC, CASE, ANSWER, None)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    if result.status is not Status.PASS:
        raise SystemExit(f"the trivial check did not pass: {result.reason}")
    return elapsed


async def one_sandbox_run() -> float:
    start = time.perf_counter()
    result = await run_python(TRIVIAL)
    elapsed = time.perf_counter() - start
    assert result.stdout == "hi\n", result
    return elapsed


def one_plain_run() -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", TRIVIAL], capture_output=True, check=True)
    elapsed = time.perf_counter() - start
    assert out.stdout == b"hi\n"
    return elapsed


async def sequential(n: int) -> dict[str, list[float]]:
    await one_check()  # detection and first-use costs are not per-run costs
    out: dict[str, list[float]] = {"check": [], "run_python": [], "subprocess": []}
    for _ in range(n):
        # Interleaved, so background load affects all three alike.
        out["check"].append(await one_check())
        out["run_python"].append(await one_sandbox_run())
        out["subprocess"].append(one_plain_run())
    return out


async def parallel_checks(n: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(one_check() for _ in range(n)))
    return n / (time.perf_counter() - start)


def parallel_plain(n: int, workers: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: one_plain_run(), range(n)))
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--parallel", type=int, default=40)
    args = ap.parse_args()
    workers = os.cpu_count() or 1
    iso = isolation()
    seq = asyncio.run(sequential(args.runs))
    med = {k: statistics.median(v) * 1000 for k, v in seq.items()}
    p90 = {k: statistics.quantiles(v, n=10)[-1] * 1000 for k, v in seq.items()}
    rps = asyncio.run(parallel_checks(args.parallel))
    base_rps = parallel_plain(args.parallel, workers)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    print(f"sandbox mode: {iso.mode.name}; {workers} cores; load average {load:.2f}",
          file=sys.stderr)
    rows = [("code check, start to verdict", med["check"], p90["check"]),
            ("run_python alone", med["run_python"], p90["run_python"]),
            ("plain subprocess.run (baseline)", med["subprocess"], p90["subprocess"])]
    print(f"{'trivial program, sequential':<34} {'median ms':>10} {'p90 ms':>10}")
    for name, m, p in rows:
        print(f"{name:<34} {m:>10.1f} {p:>10.1f}")
    print(f"{'parallel, ' + str(args.parallel) + ' runs':<34} {'runs/s':>10}")
    print(f"{'code check (' + str(workers) + ' slots)':<34} {rps:>10.1f}")
    print(f"{'plain subprocess (' + str(workers) + ' threads)':<34} {base_rps:>10.1f}")
    print(json.dumps({
        "overhead_ms_median": round(med["check"], 1),
        "added_ms_median": round(med["check"] - med["subprocess"], 1),
        "run_python_ms_median": round(med["run_python"], 1),
        "baseline_ms_median": round(med["subprocess"], 1),
        "check_ms_p90": round(p90["check"], 1),
        "runs_per_s": round(rps, 1),
        "baseline_runs_per_s": round(base_rps, 1),
        "runs_per_s_ratio": round(rps / base_rps, 2),
        "workers": workers,
        "isolation": iso.mode.name,
        "load_average": round(load, 2) if load is not None else None,
    }))


if __name__ == "__main__":
    main()
