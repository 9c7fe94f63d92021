"""The example rubric package installs into a fresh venv, and a spec there imports from it,
compiles, and runs with its rubrics judged (loopback server as models and judge)."""

import json
import re
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from evalspec.testing.server import ScriptedServer

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "acme_rubrics"

SPEC = """\
import "acme_rubrics:support" as acme

model bot {{
  provider = openai
  id = "bot"
  base_url = "{url}"
  api_key = env("ACME_TEST_KEY")
}}
model referee {{
  provider = openai
  id = "referee"
  base_url = "{url}"
  api_key = env("ACME_TEST_KEY")
}}
judge = referee

suite support {{
  models = [bot]
  case refund "Refund request" {{
    prompt = "I bought a kettle 12 days ago and it leaks. Can I get my money back?"
    expect judge acme.refund_policy
    expect judge acme.support_reply >= 4
  }}
}}
"""

ANSWER = ("Yes. You're within 30 days, so we'll refund you in full; I've emailed you a prepaid "
          "return label.")


def verdict(body):
    prompt = body["messages"][-1]["content"]
    if re.search(r"rubric=\S*refund_policy", prompt):
        return json.dumps({"criteria": {"policy": {"reasoning": "within 30 days", "score": 1}},
                           "score": 1})
    names = ("resolution", "empathy", "tone")
    return json.dumps({"criteria": {n: {"reasoning": "fine", "score": 5} for n in names},
                       "score": 5})


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv that sees this environment's packages (evalspec, hatchling) but has the
    rubric package installed only in itself."""
    root = tmp_path_factory.mktemp("acme") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    parents = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    (Path(purelib) / "_parent_env.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in dict.fromkeys(parents))
        + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-build-isolation", "--no-index", "--no-deps", str(PACKAGE)],
                   check=True, capture_output=True, text=True)
    return python


def test_the_package_is_not_installed_here():
    import importlib.util

    assert importlib.util.find_spec("acme_rubrics") is None


def test_installed_package_exposes_its_eval_files(venv):
    out = subprocess.run([str(venv), "-c", "import importlib.resources as r; "
                          "p = r.files('acme_rubrics') / 'support.eval'; "
                          "print(p.is_file(), 'site-packages' in str(p))"],
                         check=True, capture_output=True, text=True).stdout
    assert out.split() == ["True", "True"]


def test_a_spec_imports_compiles_and_runs_with_the_package_rubrics(venv, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_TEST_KEY", "sk-test-not-a-key")
    with ScriptedServer(default="unscripted") as server:
        server.script("EVALSPEC-JUDGE", respond=verdict)
        server.script("I bought a kettle", ANSWER)
        spec = tmp_path / "support.eval"
        spec.write_text(SPEC.format(url=server.url))
        run = subprocess.run(
            [str(venv), "-m", "evalspec.cli", "run", str(spec), "--store",
             str(tmp_path / "store"), "--json", str(tmp_path / "results.json"), "--quiet"],
            capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert run.returncode == 0, run.stderr
        assert server.count("EVALSPEC-JUDGE") == 2
    results = json.loads((tmp_path / "results.json").read_text())
    (result,) = results["results"]
    assert result["status"] == "pass"
    checks = {c["evidence"]["rubric"]: c for c in result["checks"]}
    assert len(checks) == 2
    for rubric_id, check in checks.items():
        assert check["status"] == "pass"
        assert check["evidence"]["rubric_hash"] == results["rubrics"][rubric_id]["content_hash"]
        assert "acme_rubrics" in results["rubrics"][rubric_id]["origin"]
