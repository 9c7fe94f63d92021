"""An installed evalspec works outside this repository: the grammar ships in the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_compiles_the_specs_from_another_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, ROOT)
    (wheel,) = wheels.glob("evalspec-*.whl")
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    assert "evalspec/grammar/evalspec.lark" in names
    assert any(n.startswith("evalspec/stdlib/") and n.endswith(".eval") for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel)
    # A copy of the specs in a folder unrelated to the checkout.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(ROOT / "specs", elsewhere / "specs")
    result = run(env_dir / "bin" / "evalspec", "compile", "specs", "-o", "out", cwd=elsewhere)
    assert (elsewhere / "out" / "seed.plan.json").is_file()
    assert "seed.eval: 10 cases" in result.stdout
    # The grammar came from the wheel, not from this checkout.
    where = run(python, "-c", "import evalspec.parser as p; print(p.__file__)", cwd=elsewhere)
    assert str(ROOT) not in where.stdout
