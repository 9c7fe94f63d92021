"""`evalspec compile` and `evalspec check` as a user runs them: real processes, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ERRORS = Path(__file__).parent.parent / "cases" / "errors"


def evalspec(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "evalspec.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_compile_writes_identical_plans_twice(tmp_path: Path) -> None:
    first = evalspec("compile", "specs", "-o", str(tmp_path / "a"))
    second = evalspec("compile", "specs", "-o", str(tmp_path / "b"))
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    plans_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json"))
    plans_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.json"))
    assert Path("seed.plan.json") in plans_a and plans_a == plans_b
    for rel in plans_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert "specs/seed.eval: 10 cases × 2 models [gpt4o, llama]" in first.stdout


def test_spec_errors_exit_1_with_located_messages_and_no_traceback() -> None:
    result = evalspec("check", "many_errors.eval", cwd=ERRORS)
    assert result.returncode == 1
    assert "many_errors.eval:5:3: error: unknown attribute `temprature` in model `gpt`" \
        in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.rstrip().endswith("16 errors, 1 warning")


def test_usage_errors_exit_2() -> None:
    assert evalspec("compile", "no/such/file.eval").returncode == 2
    assert evalspec("compile").returncode == 2
    assert evalspec("compile", "specs", "--bogus").returncode == 2


def test_check_writes_nothing(tmp_path: Path) -> None:
    result = evalspec("check", str(ROOT / "specs" / "seed.eval"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_internal_errors_exit_70_with_a_short_report(tmp_path: Path) -> None:
    # A deliberately broken plugin module stands in for a bug inside evalspec.
    (tmp_path / "sitecustomize.py").write_text(
        "import evalspec.compiler as c\n"
        "def boom(*a, **k):\n    raise RuntimeError('planted bug')\n"
        "c.compile_paths = boom\n")
    result = evalspec("check", str(ROOT / "specs"), cwd=tmp_path,
                      env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 70
    assert "internal error: RuntimeError: planted bug" in result.stderr
    assert "Traceback" not in result.stderr
