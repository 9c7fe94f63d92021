"""Runner benchmark against the loopback OpenAI-compatible server.

    python bench/run_bench.py [--cases 1000] [--latency 0.2] [--big 10000]

Phases (the server runs in its own process so it does not share the runner's event loop):

1. 100 cases at 200 ms latency, concurrency 1; then 1,000 cases at concurrency 16 and 64.
   The ideal time is cases × latency / concurrency; the ratio to it is the runner's overhead.
2. 1,000 cases at 0 ms latency, concurrency 64: cases per second.
3. The same 1,000 cases again: every answer from the cache (the server's request counter
   proves no request was sent).
4. 10,000 cases in a child process, for its peak RSS (VmHWM).

Each phase is a real run: providers, limits, cache writes, checks and the SQLite store, exactly
as `evalspec run` does them (only the progress bar is off). Times are the runner's wall time
from the start of the run to the stored, finished run (interpreter start-up excluded).

Prints a table, then as its last line one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Imported before any timing: module imports are process start-up, not the runner's work.
import evalspec.providers.openai_compat  # noqa: E402, F401
from evalspec.cache import ResponseCache  # noqa: E402
from evalspec.checks import register  # noqa: E402
from evalspec.outcome import CheckResult, Status  # noqa: E402
from evalspec.plan import CaseSpec, CheckSpec, Message, ModelSpec, Plan  # noqa: E402
from evalspec.runner import Runner, RunOptions  # noqa: E402
from evalspec.store import Store  # noqa: E402


@register("bench_contains")
async def _contains(spec, case, response, ctx) -> CheckResult:
    ok = spec.params["value"] in response.text
    return CheckResult("bench_contains", Status.PASS if ok else Status.FAIL,
                       "found" if ok else "missing")


def make_plan(n: int, url: str, concurrency: int, tag: str) -> Plan:
    model = ModelSpec(name="bench", provider="openai", model_id="bench-model", base_url=url,
                      params={"temperature": 0.0, "max_tokens": 16}, concurrency=concurrency,
                      timeout_s=30.0)
    check = CheckSpec("bench_contains", {"value": "OK"}, "contains OK")
    cases = tuple(
        CaseSpec(id=f"s{i % 10}/c{i}", suite=f"s{i % 10}", title=f"case {i}", tags=("bench",),
                 messages=(Message("user", f"[{tag}] case {i}: answer OK"),), params={},
                 samples=1, models=("bench",), checks=(check,))
        for i in range(n))
    return Plan(source=f"bench-{tag}", models={"bench": model}, judge=None, rubrics={},
                tools={}, cases=cases)


def timed_run(plan: Plan, directory: Path, *, cache: bool = True,
              transport: str = "auto") -> tuple[float, Any, float]:
    store = Store(directory)
    response_cache = ResponseCache(directory / "cache") if cache else None

    async def go():
        runner = Runner(plan, store, options=RunOptions(concurrency=64, transport=transport),
                        cache=response_cache)
        start = time.perf_counter()
        report = await runner.run()
        return time.perf_counter() - start, report

    cpu = time.process_time()
    elapsed, report = asyncio.run(go())
    cpu = time.process_time() - cpu
    store.close()
    if response_cache:
        response_cache.close()
    return elapsed, report, cpu


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evalspec.testing.server", "--no-log-bodies"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url = info["url"]
        self.admin = self.url.removesuffix("/v1") + "/_admin"

    def _post(self, path: str, data: dict[str, Any]) -> Any:
        req = urllib.request.Request(f"{self.admin}/{path}", json.dumps(data).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def configure(self, latency: float) -> None:
        self._post("config", {"latency": latency})
        self._post("reset", {})

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.admin}/stats") as r:
            return json.loads(r.read())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def peak_rss_child(url: str, n: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", url, "--big", str(n)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(url: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plan = make_plan(n, url, 64, "big")
        elapsed, report, _ = timed_run(plan, Path(tmp) / ".evalspec")
        hwm = 0.0
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
        print(json.dumps({"peak_rss_mb": round(hwm, 1), "elapsed_s": round(elapsed, 2),
                          "passed": report.totals()["pass"], "cases": n}))


def main() -> None:
    parser = argparse.ArgumentParser(description="evalspec runner benchmark")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--child", metavar="URL")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.big)
        return
    server = Server()
    rows: list[tuple[str, int, int, float, float, float]] = []
    out: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            server.configure(args.latency)
            for conc, n in ((1, max(1, args.cases // 10)), (16, args.cases), (64, args.cases)):
                plan = make_plan(n, server.url, conc, f"c{conc}")
                elapsed, report, _ = timed_run(plan, root / f"c{conc}")
                assert report.totals()["pass"] == n, report.totals()
                ideal = n * args.latency / conc
                rows.append((f"{int(args.latency * 1000)} ms latency", conc, n, elapsed, ideal,
                             n / elapsed))
                out[f"ratio_to_ideal_c{conc}"] = round(elapsed / ideal, 4)
                out[f"max_in_flight_c{conc}"] = server.stats()["max_in_flight"]
                server.configure(args.latency)
            server.configure(0.0)
            plan = make_plan(args.cases, server.url, 64, "zero")
            elapsed, report, cpu = timed_run(plan, root / "zero")
            assert report.totals()["pass"] == args.cases
            rows.append(("0 ms latency", 64, args.cases, elapsed, 0.0, args.cases / elapsed))
            out["cases_per_s_zero_latency"] = round(args.cases / elapsed, 1)
            # The runner's own CPU per case (the single event loop's budget), for the record.
            out["runner_cpu_ms_per_case"] = round(cpu * 1000 / args.cases, 3)
            before = server.stats()["count"]
            elapsed, report, _ = timed_run(plan, root / "zero")
            sent = server.stats()["count"] - before
            assert report.totals()["pass"] == args.cases
            rows.append(("cached rerun", 64, args.cases, elapsed, 0.0, args.cases / elapsed))
            out["cached_rerun_s"] = round(elapsed, 3)
            out["cached_rerun_requests_sent"] = sent
            big = peak_rss_child(server.url, args.big)
            rows.append((f"{args.big} cases (child)", 64, args.big, big["elapsed_s"], 0.0,
                         args.big / big["elapsed_s"]))
            out["peak_rss_mb_10k"] = big["peak_rss_mb"]
            out["cases_per_s_10k"] = round(args.big / big["elapsed_s"], 1)
    finally:
        server.close()
    print(f"{'phase':<24}{'conc':>6}{'cases':>8}{'time s':>10}{'ideal s':>10}{'cases/s':>10}")
    for name, conc, n, elapsed, ideal, rate in rows:
        print(f"{name:<24}{conc:>6}{n:>8}{elapsed:>10.2f}{ideal:>10.2f}{rate:>10.1f}")
    print(f"peak RSS at {args.big} cases: {out['peak_rss_mb_10k']} MB; cached rerun sent "
          f"{out['cached_rerun_requests_sent']} requests; cpus: {os.cpu_count()}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
