"""kill -9 in the middle of `evalspec run`, run again: the run finishes, its results equal an
uninterrupted run's, and no request whose answer the store holds is sent again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from evalspec.plan import CheckSpec

CASES = 24
LATENCY = 0.3


def text_contains(value: str) -> CheckSpec:
    return CheckSpec("text", {"op": "contains", "value": value, "ignore_case": False,
                              "normalize": False}, f"contains {value!r}")


def evalspec_run(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "evalspec.cli", "run", *args, "--quiet"],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        conn.close()


def comparable(results: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["case_id"], r["model"], r["sample"], r["status"], r["error"],
                   r["response"]["text"] if r["response"] else None,
                   json.dumps(r["checks"], sort_keys=True)) for r in results)


@pytest.mark.slow
def test_kill_9_then_rerun_finishes_the_run(test_server, tmp_path, make_case, make_model,
                                            make_plan):
    test_server.latency = LATENCY
    test_server.script("question 7", "it is 7")
    test_server.script("question 1", "maybe OK")
    plan = make_plan([make_case(f"s{i % 3}/q{i}", f"question {i}", checks=[text_contains("OK")])
                      for i in range(CASES)],
                     [make_model("m", test_server.url, concurrency=4)])
    plan_path = tmp_path / "p.plan.json"
    plan_path.write_text(plan.dumps())

    # The reference: the same plan, uninterrupted, in a store of its own.
    ref = evalspec_run(str(plan_path), "--store", str(tmp_path / "ref"), "--json",
                       str(tmp_path / "ref.json"), cwd=tmp_path)
    assert ref.wait(timeout=60) == 1, ref.stderr.read()  # question 7 fails
    reference = json.loads((tmp_path / "ref.json").read_text())
    test_server.reset()

    store = tmp_path / "store"
    db = store / "results.sqlite"
    proc = evalspec_run(str(plan_path), "--store", str(store), cwd=tmp_path)
    deadline = time.monotonic() + 60
    while len(stored(db, "SELECT case_id FROM results")) < 6:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(LATENCY / 2)  # between two waves of answers, with four requests in flight
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    (run_id, finished), = stored(db, "SELECT id, finished_at FROM runs")
    assert finished is None
    done = {c for (c,) in stored(db, "SELECT case_id FROM results")}
    answered = {json.loads(m)["request"]["messages"][-1]["content"] for (m,) in stored(
        db, "SELECT request_json FROM requests WHERE status = 'ok'")}
    assert 6 <= len(done) < CASES
    log_at_kill = len(test_server.requests)

    again = evalspec_run(str(plan_path), "--store", str(store), "--json",
                         str(tmp_path / "after.json"), cwd=tmp_path)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 1, err
    assert f"resuming with {len(done)} already stored" in err
    after = json.loads((tmp_path / "after.json").read_text())
    assert after["run_id"] == run_id and after["complete"]
    assert comparable(after["results"]) == comparable(reference["results"])

    resent = [r.user for r in test_server.requests[log_at_kill:]]
    done_prompts = {f"question {c.split('/q')[1]}" for c in done}
    assert not done_prompts & set(resent), "a request with a stored result was sent again"
    assert not answered & set(resent), "a request with a stored answer was sent again"
    # Every prompt was answered exactly once, except those in flight at the kill (at most 4).
    counts = {f"question {i}": 0 for i in range(CASES)}
    for r in test_server.requests:
        counts[r.user] += 1
    assert set(counts.values()) <= {1, 2}
    assert sum(1 for n in counts.values() if n == 2) <= 4


@pytest.mark.slow
def test_ctrl_c_leaves_a_resumable_run(test_server, tmp_path, make_case, make_model, make_plan):
    test_server.latency = LATENCY
    plan = make_plan([make_case(f"s/q{i}", f"question {i}", checks=[text_contains("OK")])
                      for i in range(12)], [make_model("m", test_server.url, concurrency=2)])
    plan_path = tmp_path / "p.plan.json"
    plan_path.write_text(plan.dumps())
    db = tmp_path / "store" / "results.sqlite"
    proc = evalspec_run(str(plan_path), "--store", str(tmp_path / "store"), cwd=tmp_path)
    deadline = time.monotonic() + 60
    while len(stored(db, "SELECT case_id FROM results")) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "run the same command again to finish it" in err
    (finished,), = stored(db, "SELECT finished_at FROM runs")
    assert finished is None
