"""The pytest plugin, end to end: a real pytest in a subprocess collects a `.eval` file, runs it
against the loopback test server in one runner pass, and reports one item per case × model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from evalspec.pytest_plugin import _compile, _run_plan, _wanted, format_failure
from evalspec.testing.server import ScriptedServer

SPEC = """\
model a {
  provider = openai
  id = "a-id"
  base_url = "http://127.0.0.1:9/v1"
}

model b {
  provider = openai
  id = "b-id"
  base_url = "http://127.0.0.1:9/v1"
}

suite geo {
  case capital "Capital of France" {
    tags = ["S1"]
    prompt = "What is the capital of France?"
    expect text contains "Paris"
  }
  case river "Longest river in France" {
    prompt = "Which river is the longest in France?"
    expect text contains "Loire"
  }
}
"""

BROKEN = "suite x {\n  case y {\n    prompt = \n  }\n}\n"


def _answer(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if "capital" in prompt:
        # Model b gets the capital wrong, as models do.
        return "Lyon, I believe." if body["model"] == "b-id" else "Paris."
    return "The Loire."


@pytest.fixture
def server():
    with ScriptedServer(default="?") as srv:
        srv.script(".", respond=_answer, match="regex")
        yield srv


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n', encoding="utf-8")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "geo.eval").write_text(SPEC, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "broken.eval").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "tests" / "test_plain.py").write_text("def test_ok():\n    pass\n")
    return tmp_path


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "EVALSPEC_"))}
    env["OPENAI_API_KEY"] = "sk-test-not-a-real-key"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--assert=plain", "-q", "-rf",
         *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _models(url: str) -> list[str]:
    return ["--evalspec-model", f"a=openai:a-id@{url}", "--evalspec-model",
            f"b=openai:b-id@{url}"]


def test_one_item_per_case_and_model_run_in_one_pass(project, server):
    store = project / "store"
    out = _pytest(project, "specs/", *_models(server.url), "--evalspec-store", str(store),
                  "--evalspec-report", f"md:{project / 'report.md'}")
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "1 failed, 3 passed" in text
    # The failure names the case and model and gives the check's reason and the answer.
    assert "FAILED specs/geo.eval::geo/capital[b]" in text
    assert "geo/capital [b]: fail" in text
    assert "text contains \"Paris\"" in text
    assert "Lyon, I believe." in text
    assert "PytestUnknownMarkWarning" not in text
    # One runner pass: each of the 4 generations was requested once.
    assert server.count() == 4
    assert "stored run(s) r-" in text
    assert (project / "report.md").read_text(encoding="utf-8").count("#### ") == 2


class _Options:
    """The plugin's options as pytest.Config.getoption answers them, for in-process runs."""

    def __init__(self, root: Path, **options: Any) -> None:
        self.rootpath = root
        self.options = {"evalspec_models": [], "evalspec_judge": None,
                        "evalspec_local": False, "evalspec_store": None,
                        "evalspec_offline": False, "evalspec_concurrency": 4, **options}

    def getoption(self, name: str) -> Any:
        return self.options[name]


def test_offline_uses_the_cache_and_refuses_the_network(project, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    spec = project / "specs" / "geo.eval"
    models = [f"a=openai:a-id@{server.url}", f"b=openai:b-id@{server.url}"]
    online = _Options(project, evalspec_models=models, evalspec_store=str(project / "st"))
    plan = _compile(spec, online)
    first = _run_plan(plan, online, source=spec)
    assert server.count() == 4
    statuses = {(r["case_id"], r["model"]): r["status"] for r in first["results"]}
    # Offline on the same store: the same verdicts, every answer from the cache.
    offline = _Options(project, evalspec_models=models, evalspec_store=str(project / "st"),
                       evalspec_offline=True)
    again = _run_plan(_compile(spec, offline), offline, source=spec)
    assert {(r["case_id"], r["model"]): r["status"] for r in again["results"]} == statuses
    assert all(r["response"]["cached"] for r in again["results"])
    assert server.count() == 4
    # Offline with an empty cache: errors that say why, and nothing reaches the server.
    cold = _Options(project, evalspec_models=models, evalspec_store=str(project / "cold"),
                    evalspec_offline=True)
    missed = _run_plan(_compile(spec, cold), cold, source=spec)
    assert [r["status"] for r in missed["results"]] == ["error"] * 4
    assert "network access is forbidden (--evalspec-offline)" in missed["results"][0]["error"]
    assert server.count() == 4
    text = format_failure(missed["results"][:1], offline=True)
    assert "--evalspec-offline forbids network access" in text
    # The guard is lifted afterwards.
    socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1].split("/")[0])),
                             timeout=5).close()


def test_only_selected_items_are_run_and_tags_are_markers(project, server):
    out = _pytest(project, "specs/geo.eval", *_models(server.url), "--evalspec-store",
                  str(project / "store"), "-m", "not S1")
    assert "2 passed, 2 deselected" in out.stdout, out.stdout + out.stderr
    assert server.count() == 2


def test_plain_pytest_leaves_eval_files_alone_and_named_ones_report_spec_errors(project):
    plain = _pytest(project, "--collect-only")
    assert "test_plain.py::test_ok" in plain.stdout and ".eval" not in plain.stdout
    # A file named explicitly is collected even inside testpaths: a broken one reports its
    # spec error with the source line, not a traceback.
    broken = _pytest(project, "tests/broken.eval", "--collect-only")
    assert broken.returncode != 0
    assert "broken.eval:3" in broken.stdout and "Traceback" not in broken.stdout


@dataclass
class _Config:
    """The few attributes of pytest.Config that the collection rule reads."""

    root: Path
    args: list[str]
    source: str = "ARGS"
    evalspec: bool = False
    testpaths: tuple[str, ...] = ("tests",)

    def getoption(self, name: str) -> bool:
        assert name == "evalspec"
        return self.evalspec

    def getini(self, name: str) -> list[str]:
        assert name == "testpaths"
        return list(self.testpaths)

    @property
    def args_source(self) -> pytest.Config.ArgsSource:
        return pytest.Config.ArgsSource[self.source]

    @property
    def rootpath(self) -> Path:
        return self.root

    @property
    def invocation_params(self) -> SimpleNamespace:
        return SimpleNamespace(dir=self.root)


@pytest.mark.parametrize(("args", "source", "flag", "spec", "broken"), [
    ([], "TESTPATHS", False, False, False),          # `pytest`
    (["tests"], "ARGS", False, False, False),        # a testpaths folder
    (["tests/sub"], "ARGS", False, False, False),    # inside one
    (["."], "ARGS", False, False, False),            # the rootdir
    (["specs"], "ARGS", False, True, False),
    (["specs/geo.eval::geo/capital[a]"], "ARGS", False, True, False),
    (["tests/broken.eval"], "ARGS", False, False, True),
    ([], "TESTPATHS", True, True, True),             # --evalspec
])
def test_collection_rule(project, args, source, flag, spec, broken):
    (project / "tests" / "sub").mkdir()
    config = _Config(project, args, source, flag)
    assert _wanted(config, project / "specs" / "geo.eval") is spec
    assert _wanted(config, project / "tests" / "broken.eval") is broken


def test_plugin_import_is_cheap():
    code = ("import sys, evalspec.pytest_plugin; print(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('openai', 'lark', 'numpy', 'scipy', 'jinja2', 'rich', "
            "'click', 'httpx', 'aiohttp') or m.startswith('evalspec.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["evalspec.pytest_plugin"]


def test_failure_text_lists_every_check_with_its_reason():
    text = format_failure([{
        "case_id": "math/S1", "model": "llama", "sample": 0, "status": "fail", "error": None,
        "response": {"text": "9.11 is larger"},
        "checks": [
            {"kind": "choice", "label": 'choice ["9.11", "9.9"] == "9.9"', "status": "fail",
             "reason": 'the answer concludes "9.11"', "evidence": {"concluded": "9.11"}},
            {"kind": "all", "label": "all", "status": "fail", "reason": "1 of 2 failed",
             "evidence": {}, "children": [
                 {"kind": "text", "label": "text words 1..5", "status": "pass",
                  "reason": "3 words", "evidence": {}},
                 {"kind": "judge", "label": "judge std.x", "status": "fail", "score": 2,
                  "reason": "score 2 < 4", "evidence": {"reasoning": "vague"}}]},
        ]}])
    assert 'math/S1 [llama]: fail' in text
    assert '✘ fail     choice ["9.11", "9.9"] == "9.9": the answer concludes "9.11"' in text
    assert "    ✔ pass     text words 1..5: 3 words" in text
    assert "judge std.x (score 2): score 2 < 4" in text
    assert "judge reasoning: vague" in text
    assert "answer: 9.11 is larger" in text
