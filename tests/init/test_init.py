"""`evalspec init` and the project settings it writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from evalspec.cli import main
from evalspec.commands.init import FILES
from evalspec.compiler import compile_paths
from evalspec.config import ConfigError, load_config


def test_init_scaffolds_a_project_that_compiles(tmp_path):
    out = CliRunner().invoke(main, ["init", str(tmp_path / "proj")])
    assert out.exit_code == 0, out.output
    root = tmp_path / "proj"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "evals/hello.eval", "evalspec.toml"]
    assert "next: cd " in out.output and "evalspec run --local" in out.output
    config = load_config(root / "evals")
    assert config.root == root and config.spec_paths() == [root / "evals"]
    assert config.store_dir == root / ".evalspec"
    assert config.reports == ("html:reports/latest.html",)
    result = compile_paths(config.spec_paths())
    assert result.ok and not result.errors, result.diagnostics
    (plan,) = result.plans
    # No model declared: the embedded local model, judged by the standard library's rubric.
    assert list(plan.models) == ["local"] and plan.models["local"].provider == "local"
    assert [c.id for c in plan.cases] == ["hello/capital", "hello/arithmetic", "hello/greeting"]
    assert list(plan.rubrics) == ["std.helpfulness.helpfulness"]
    assert plan.rubrics["std.helpfulness.helpfulness"].origin.startswith("std:helpfulness")


def test_init_never_overwrites(tmp_path):
    (tmp_path / "evalspec.toml").write_text("store = 'mine'\n")
    out = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert out.exit_code == 2
    assert "not overwriting existing files" in out.output and "evalspec.toml" in out.output
    assert (tmp_path / "evalspec.toml").read_text() == "store = 'mine'\n"
    assert not (tmp_path / "evals").exists()


def test_settings_in_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.evalspec]\nspecs = ["specs", "more"]\nstore = "st"\n')
    (tmp_path / "specs").mkdir()
    config = load_config(tmp_path)
    assert config.specs == ("specs", "more") and config.spec_paths() == [tmp_path / "specs"]
    assert config.store_dir == tmp_path / "st"


@pytest.mark.parametrize(("text", "message"), [
    ("colour = 'red'\n", "unknown setting 'colour'"),
    ("specs = 'evals'\n", "specs must be a list of strings"),
    ("reports = ['pdf:x.pdf']\n", "reports: --report 'pdf:x.pdf'"),
    ("specs = [\n", "not valid TOML"),
])
def test_bad_settings_are_reported_with_the_file(tmp_path, text, message):
    (tmp_path / "evalspec.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(tmp_path)
    assert str(tmp_path / "evalspec.toml") in str(err.value)


def test_no_settings_file_means_defaults(tmp_path):
    config = load_config(tmp_path)
    assert config.file is None and config.specs == ("evals",) and config.reports == ()


def test_scaffold_files_are_the_documented_ones():
    assert set(FILES) == {"evalspec.toml", "evals/hello.eval"}
    assert 'import "std:helpfulness" as std_help' in FILES["evals/hello.eval"]
    assert Path("evals/hello.eval").suffix == ".eval"
