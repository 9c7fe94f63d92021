"""Compile a generated spec of N cases (default 10,000) and report throughput and memory.

    python bench/compile_bench.py [--cases N]

The spec mixes what real specs hold: plain cases, data-driven cases expanded from a table,
templates, JSON, code and tool-call expectations and a judge rubric. The baseline printed
beside it is a spec of a tenth the size, compiled in the same process, so the ratio shows
whether time and memory grow linearly. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HEADER = '''
model a {
  provider = openai
  id = "model-a"
  base_url = env("A_BASE_URL", "http://127.0.0.1:1/v1")
  api_key = env("A_KEY")
}
model b {
  provider = openai
  id = "model-b"
  base_url = env("B_BASE_URL", "http://127.0.0.1:1/v1")
}
model grader {
  provider = openai
  id = "model-c"
  base_url = env("C_BASE_URL", "http://127.0.0.1:1/v1")
}
judge = grader

tool add {
  description = "Add two integers."
  params {
    x: int "first"
    y: int "second"
  }
}

rubric quality {
  description = "Overall quality of the answer."
  scale = 1..5
  threshold = 3
  criterion correctness { description = "Is it right?" }
  example {
    text = "Paris is the capital of France."
    score = 5
  }
}
'''

CASES = [
    '''  case c{i} "Arithmetic {i}" {{
    tags = ["arith", "t{t}"]
    prompt = "What is {i} + {j}? Answer with the number only."
    expect number == {k}
    expect text words ..20
  }}
''',
    '''  case j{i} {{
    prompt = """
      Return a JSON object with the key "id" set to {i} and "name" set to "item-{i}".
      """
    expect json schema {{"type": "object", "required": ["id", "name"]}}
    expect json at "$.name" == "item-{i}"
  }}
''',
    '''  case t{i} {{
    prompt = "Use the add tool to add {i} and {j}."
    tools = [add]
    expect calls [add(x = {i}, y = {j})]
  }}
''',
    '''  case p{i} {{
    prompt = "Write a Python function add_{i}(x) that returns x + {i}."
    expect code python {{
      tests = """
        assert add_{i}(1) == {j}
        """
      timeout = 10s
    }}
  }}
''',
    '''  case d{i} {{
    prompt = "Translate '{{{{ word }}}}' into {{{{ lang }}}}."
    rows = table(["word", "lang"], ["cat{i}", "French"], ["dog{i}", "German"])
    expect text contains "{{{{ word }}}}" ignore_case
    expect any {{
      expect text matches r"\\w+"
      expect judge quality >= 3
    }}
  }}
''',
]


TIMED_RUNS = 5


def generate(n: int) -> str:
    parts = [HEADER, "suite generated {\n  models = [a, b]\n"]
    count = i = 0
    while count < n:
        template = CASES[i % len(CASES)]
        parts.append(template.format(i=i, j=i + 1, k=2 * i + 1, t=i % 7))
        count += 2 if template.startswith("  case d") else 1
        i += 1
    parts.append("}\n")
    return "".join(parts)


def measure(n: int, folder: Path) -> dict[str, float]:
    from evalspec.compiler import compile_paths

    path = folder / f"bench_{n}.eval"
    path.write_text(generate(n), encoding="utf-8")
    # Timed without tracemalloc (which slows allocation several-fold), then traced apart.
    # The best of five, as timeit does: on a shared machine the slower runs measure the
    # neighbours; the median is reported beside it.
    times = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        result = compile_paths([path])
        times.append(time.perf_counter() - start)
        del result
    seconds = min(times)
    median = sorted(times)[len(times) // 2]
    tracemalloc.start()
    result = compile_paths([path])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if not result.ok:
        from evalspec.diagnostics import render
        print(render(result.errors[:5], result.sources), file=sys.stderr)
        raise SystemExit("the generated spec did not compile")
    cases = len(result.plans[0].cases)
    return {"cases": cases, "warnings": len(result.warnings), "seconds": round(seconds, 3),
            "cases_per_s": round(cases / seconds, 1),
            "cases_per_s_median": round(cases / median, 1),
            "traced_peak_mb": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        measure(200, folder)  # warm-up: imports and the parser's tables
        small = measure(max(1, args.cases // 10), folder)
        big = measure(args.cases, folder)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'cases':>8} {'best s':>8} {'cases/s':>10} {'median/s':>10} {'traced MB':>10}")
    for row in (small, big):
        print(f"{row['cases']:>8} {row['seconds']:>8} {row['cases_per_s']:>10} "
              f"{row['cases_per_s_median']:>10} {row['traced_peak_mb']:>10}")
    time_ratio = big["seconds"] / small["seconds"]
    mem_ratio = big["traced_peak_mb"] / max(small["traced_peak_mb"], 0.1)
    size_ratio = big["cases"] / small["cases"]
    print(f"time grows {time_ratio:.1f}x and traced memory {mem_ratio:.1f}x for "
          f"{size_ratio:.1f}x the cases (linear would be {size_ratio:.1f}x)")
    print(json.dumps({
        "cases": big["cases"], "seconds": big["seconds"], "cases_per_s": big["cases_per_s"],
        "cases_per_s_median": big["cases_per_s_median"], "timed_runs": TIMED_RUNS,
        "peak_rss_mb": round(peak_rss_mb, 1), "traced_peak_mb": big["traced_peak_mb"],
        "baseline_cases": small["cases"], "time_ratio_vs_baseline": round(time_ratio, 2),
        "memory_ratio_vs_baseline": round(mem_ratio, 2), "warnings": big["warnings"],
        "goal_cases_per_s": 5000,
    }))


if __name__ == "__main__":
    main()
