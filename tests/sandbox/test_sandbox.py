"""The sandbox's ordinary behaviour: output, exit status, input, files, environment, modes."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

import evalspec.sandbox as sandbox
from evalspec.sandbox import Limits, SandboxError, call_function, isolation, run_python

from .conftest import linux_only


async def test_stdout_stderr_and_exit_code():
    result = await run_python("import sys\nprint('out')\nprint('err', file=sys.stderr)\n"
                              "sys.exit(3)\n")
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)
    assert result.signal is None and not result.timed_out and not result.ok
    assert result.describe_exit() == "exit code 3"


async def test_uncaught_exception_is_a_normal_result():
    result = await run_python("1 / 0\n")
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")


async def test_killed_by_a_signal_reports_its_name():
    result = await run_python("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert result.exit_code is None and result.signal == "SIGSEGV"
    assert result.describe_exit() == "killed by SIGSEGV"


async def test_stdin_args_and_files():
    src = ("import sys\nname = open('data/name.txt').read()\n"
           "print(name, sys.argv[1:], sys.stdin.read().upper())\n")
    result = await run_python(src, stdin="piped in", args=["a", "b c"],
                              files={"data/name.txt": "evalspec"})
    assert result.stdout == "evalspec ['a', 'b c'] PIPED IN\n"


async def test_relative_file_paths_only():
    with pytest.raises(ValueError, match="relative path"):
        await run_python("pass", files={"../escape.py": "x"})
    with pytest.raises(ValueError, match="relative path"):
        await run_python("pass", files={"/etc/x": "x"})


async def test_environment_is_scrubbed_and_home_is_the_working_directory(monkeypatch):
    monkeypatch.setenv("EVALSPEC_TEST_SECRET", "do-not-leak")
    src = "import json, os\nprint(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd()}))\n"
    result = await run_python(src, env={"EXTRA": "1"})
    seen = json.loads(result.stdout)
    env = seen["env"]
    assert "EVALSPEC_TEST_SECRET" not in env
    assert env["HOME"] == seen["cwd"]
    assert env["EXTRA"] == "1"
    assert env["SDL_VIDEODRIVER"] == "dummy"
    assert set(env) <= {"PATH", "HOME", "TMPDIR", "USER", "LANG", "PYTHONIOENCODING",
                        "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "TERM", "SDL_VIDEODRIVER",
                        "SDL_AUDIODRIVER", "PYGAME_HIDE_SUPPORT_PROMPT", "MPLBACKEND",
                        "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TZ",
                        "EXTRA"}


async def test_each_run_gets_a_fresh_directory_that_is_removed_afterwards():
    first = await run_python("import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())")
    second = await run_python("import os\nprint(os.getcwd(), os.listdir('.'))")
    cwd = first.stdout.strip()
    assert not os.path.exists(cwd)
    assert not second.stdout.startswith(cwd + " ")
    assert "left.txt" not in second.stdout


async def test_collect_reads_files_back_and_never_follows_links():
    src = ("import os\nopen('out.json', 'w').write('{\"a\": 1}')\n"
           "os.symlink('/etc/hostname', 'link.txt')\n")
    result = await run_python(src, collect=["out.json", "link.txt", "missing.txt"])
    assert result.files == {"out.json": '{"a": 1}'}


async def test_pty_mode_gives_the_program_a_terminal():
    src = "import os, sys\nprint(sys.stdin.isatty(), sys.stdout.isatty(), os.get_terminal_size())"
    result = await run_python(src, pty=True)
    assert result.exit_code == 0, result.stderr
    assert "True True os.terminal_size(columns=80, lines=24)" in result.stdout


async def test_unicode_and_binary_output_do_not_break_decoding():
    src = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe caf\\xc3\\xa9 \\x00')\n"
    result = await run_python(src)
    assert result.exit_code == 0
    assert "café" in result.stdout and "\ufffd" in result.stdout


async def test_runs_in_parallel_up_to_the_core_count():
    n = os.cpu_count() or 1
    src = "import time\nstart = time.time()\ntime.sleep(0.3)\nprint(start, time.time())\n"
    results = await asyncio.gather(*(run_python(src) for _ in range(2 * n + 1)))
    spans = [tuple(map(float, r.stdout.split())) for r in results]
    # The most programs running at one moment: at a start, count the spans covering it.
    most = max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans)
    assert most == n


async def test_evidence_is_json_serialisable():
    result = await run_python("print('x' * 5000)")
    ev = result.evidence(tail=100)
    json.dumps(ev)
    assert ev["stdout_tail"].startswith("…") and len(ev["stdout_tail"]) == 101
    assert ev["isolation"] == isolation().mode.name


# --- calling one function ------------------------------------------------------------------------

TOOLS = '''
import math

def calculate_factorial(n):
    return math.factorial(n)

def calculate_gcd(a, b):
    return math.gcd(a, b)

def as_set(xs):
    return set(xs)

def boom():
    raise ValueError("no luck")

def forever():
    while True:
        pass
'''


async def test_call_function_returns_json():
    result = await call_function(TOOLS, "calculate_factorial", {"n": 10})
    assert result.ok and result.value_json == "3628800" and result.error is None
    gcd = await call_function(TOOLS, "calculate_gcd", {"a": 3628800, "b": 40320})
    assert json.loads(gcd.value_json) == 40320


async def test_call_function_handles_huge_ints_and_odd_values():
    big = await call_function(TOOLS, "calculate_factorial", {"n": 2000})
    assert big.ok and len(big.value_json) > 4300
    as_set = await call_function(TOOLS, "as_set", {"xs": [3, 1, 3]})
    assert json.loads(as_set.value_json) == [1, 3]


async def test_call_function_reports_errors():
    assert (await call_function(TOOLS, "boom", {})).error == "ValueError: no luck"
    wrong = await call_function(TOOLS, "calculate_factorial", {"m": 3})
    assert not wrong.ok and "unexpected keyword argument 'm'" in wrong.error
    missing = await call_function(TOOLS, "calculate_lcm", {})
    assert missing.error == "tools.py defines no function 'calculate_lcm'"
    hung = await call_function(TOOLS, "forever", {}, Limits(timeout_s=0.5))
    assert not hung.ok and hung.error == "timed out after 0.5 s"
    broken = await call_function("def f(:\n", "f", {})
    assert not broken.ok and broken.error.startswith("SyntaxError")


async def test_call_function_rejects_arguments_that_are_not_json():
    result = await call_function(TOOLS, "as_set", {"xs": {1, 2}})
    assert not result.ok and result.error.startswith("arguments are not JSON")


# --- isolation modes -----------------------------------------------------------------------------

@linux_only
def test_isolation_is_detected_once_and_describes_itself():
    iso = isolation()
    assert isolation() is iso
    info = iso.describe()
    assert info["mode"] in sandbox._MODES
    if os.geteuid() == 0:
        # As root the strongest mode must work wherever namespaces are allowed (CI, this VM).
        assert iso.mode.name in ("root", "root-rw", "uid", "plain")


@linux_only
@pytest.mark.skipif(os.geteuid() != 0, reason="the root mode needs root")
def test_root_mode_is_used_when_running_as_root_with_namespaces():
    # CI runs as root in a VM that allows namespaces; falling back there would be a regression.
    if os.environ.get("CI"):
        assert isolation().mode.name == "root", isolation().notes


@pytest.fixture
def forced_mode(monkeypatch):
    """Run with EVALSPEC_SANDBOX_MODE set, then restore the detected mode."""
    saved = sandbox._isolation

    def force(name: str) -> None:
        monkeypatch.setenv("EVALSPEC_SANDBOX_MODE", name)
        sandbox._isolation = None

    yield force
    sandbox._isolation = saved


async def test_plain_mode_says_what_it_does_not_isolate(forced_mode):
    forced_mode("plain")
    result = await run_python("print('hello')")
    assert result.stdout == "hello\n"
    assert result.isolation == "plain" and not result.network_isolated
    assert any(n.startswith("network: not isolated") for n in result.notes)
    assert result.evidence()["network"] == "not isolated"


@linux_only
async def test_user_namespace_mode_isolates_network_and_filesystem(forced_mode):
    forced_mode("userns")
    try:
        isolation()
    except SandboxError as exc:
        pytest.skip(f"user namespaces unavailable here: {exc}")
    src = ("import socket\ntry:\n    open('/tmp/evalspec-userns-probe', 'w')\n"
           "except OSError as e:\n    print('ro', e.errno)\n"
           "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print('lo up')\n")
    result = await run_python(src)
    assert result.stdout == "ro 30\nlo up\n", result.stderr
    assert result.network_isolated


def test_unknown_forced_mode_is_an_error(forced_mode):
    forced_mode("chroot")
    with pytest.raises(SandboxError, match="not one of"):
        isolation()


@linux_only
async def test_setup_failure_is_a_sandbox_error(monkeypatch):
    def broken(cfg):
        raise OSError(1, "mount: Operation not permitted")

    monkeypatch.setattr(sandbox, "_setup_child_steps", broken)
    with pytest.raises(SandboxError, match="Operation not permitted"):
        await run_python("print(1)")


def test_exposures_hide_home_but_keep_the_interpreter(tmp_path):
    home = tmp_path / "home"
    (home / ".venv" / "bin").mkdir(parents=True)
    (home / ".ssh").mkdir()
    locked = tmp_path / "locked"
    (locked / "python" / "lib").mkdir(parents=True)
    locked.chmod(0o700)
    needed = [str(home / ".venv"), str(locked / "python" / "lib"), sys.prefix]
    plan = dict(sandbox._exposures(needed, [str(home)], switch_uid=True))
    assert plan[str(home)] == (".venv",)
    assert plan[str(locked)] == ("python",)
    assert not any(sys.prefix.startswith(h + os.sep) and h != "/" and not keep
                   for h, keep in plan.items())


async def test_pty_mode_takes_more_input_than_a_terminal_buffers():
    lines = "".join(f"line {i}\n" for i in range(2000))  # ~20 KB, a pty buffers ~4 KB
    src = ("import sys, termios\nattrs = termios.tcgetattr(0)\n"
           "attrs[3] &= ~termios.ECHO\ntermios.tcsetattr(0, termios.TCSANOW, attrs)\n"
           "n = 0\nfor line in sys.stdin:\n    n += 1\n    if n == 2000:\n        break\n"
           "print('read', n)\n")
    result = await run_python(src, stdin=lines, pty=True, limits=Limits(timeout_s=5))
    assert "read 2000" in result.stdout, (result.stdout[-300:], result.stderr)
