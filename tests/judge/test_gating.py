"""A rubric's `min_agreement` decides whether its judge may gate the exit code; an
uncalibrated judge gating the exit code is warned about."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evalspec.testing.server import ScriptedServer

SPEC = '''
model answerer {
  id = "answerer"
  base_url = env("ANSWER_URL")
}
model grader {
  id = "grader"
  base_url = env("JUDGE_URL")
}
judge = grader

rubric quality {
  description = "Is the answer good?"
  scale = 1..5
  threshold = 4
  %(min_agreement)s
  example {
    text = "GOOD: a careful, complete answer."
    score = 5
  }
  example {
    text = "BAD: a careless answer."
    score = 1
  }
}

case explain {
  prompt = "Explain recursion."
  expect judge quality
}
'''


def judge_reply(body) -> str:
    answer = re.search(r"<answer>\n(.*?)\n</answer>", body["messages"][-1]["content"],
                       re.S).group(1)
    return json.dumps({"reasoning": "as graded", "score": 5 if "GOOD" in answer else 1})


@pytest.fixture()
def servers():
    with ScriptedServer(default="BAD: recursion is when a thing is recursive.") as model, \
            ScriptedServer(default="{}") as judge:
        judge.script("EVALSPEC-JUDGE", field="all", respond=judge_reply)
        yield model, judge


def run(cwd: Path, servers, *args: str) -> subprocess.CompletedProcess[str]:
    model, judge = servers
    env = {**os.environ, "ANSWER_URL": model.url, "JUDGE_URL": judge.url}
    return subprocess.run([sys.executable, "-m", "evalspec.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_judge_below_min_agreement_does_not_decide_the_exit_code(tmp_path: Path,
                                                                   servers) -> None:
    (tmp_path / "spec.eval").write_text(SPEC % {"min_agreement": "min_agreement = 0.9"})
    first = run(tmp_path, servers, "run", "spec.eval", "--quiet")
    # The judge fails the answer, but it was never calibrated: its verdict does not gate.
    assert first.returncode == 0, first.stdout + first.stderr
    assert "needs agreement >= 0.9" in first.stderr
    assert "never calibrated" in first.stderr
    calibrated = run(tmp_path, servers, "calibrate", "spec.eval")
    assert calibrated.returncode == 0, calibrated.stdout + calibrated.stderr
    # Calibrated and in agreement with its golden examples: now its verdict decides.
    second = run(tmp_path, servers, "run", "spec.eval", "--quiet", "--new")
    assert second.returncode == 1, second.stdout + second.stderr
    assert "needs agreement" not in second.stderr


def test_gating_on_an_uncalibrated_judge_warns(tmp_path: Path, servers) -> None:
    (tmp_path / "spec.eval").write_text(SPEC % {"min_agreement": ""})
    result = run(tmp_path, servers, "run", "spec.eval", "--quiet")
    assert result.returncode == 1
    assert "judges never calibrated against their golden examples (quality)" in result.stderr
