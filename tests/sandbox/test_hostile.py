"""Hostile programs: each must be contained, reported, and leave nothing running.

Every program gets a unique marker on its command line (and so do its forks), so a scan of
/proc afterwards proves nothing survived. Where this machine cannot isolate something, the
test checks that the result says so instead.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from evalspec.sandbox import Limits, isolation, run_python

from .conftest import linux_only, processes_with

pytestmark = [linux_only, pytest.mark.timeout(60)]


def _caps_processes() -> bool:
    mode = isolation().mode
    return mode.switch_uid or mode.userns


async def test_infinite_loop_is_stopped_and_shows_where_it_was_stuck(marker):
    result = await run_python("x = 0\nwhile True:\n    x += 1\n", args=[marker],
                              limits=Limits(timeout_s=1))
    assert result.timed_out
    assert 1.0 <= result.duration_s < 3
    assert "KeyboardInterrupt" in result.stderr and "main.py\", line" in result.stderr
    assert processes_with(marker) == []


async def test_loop_that_ignores_sigint_is_killed_anyway(marker):
    src = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = await run_python(src, args=[marker], limits=Limits(timeout_s=0.5))
    assert result.timed_out
    assert result.signal == "SIGKILL"
    assert processes_with(marker) == []


async def test_cpu_limit_ends_a_busy_program_before_the_wall_clock(marker):
    result = await run_python("while True:\n    pass\n", args=[marker],
                              limits=Limits(timeout_s=10, cpu_s=1))
    assert not result.timed_out
    assert result.cpu_exceeded and result.signal in ("SIGXCPU", "SIGKILL")
    assert result.duration_s < 5


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _caps_processes(),
                    reason="this machine cannot cap the sandbox's processes")
async def test_fork_bomb_is_capped_and_cleaned_up(marker):
    bomb = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # only the final sweep may end it
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        print('fork refused', flush=True)\n"
        "        time.sleep(0.01)\n"
    )
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, len(processes_with(marker)))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        result = await run_python(bomb, args=[marker], limits=Limits(timeout_s=2, processes=32))
    finally:
        watcher.cancel()
    assert "fork refused" in result.stdout
    assert result.timed_out
    assert result.killed_leftovers >= 5
    assert 0 < peak <= 32
    assert processes_with(marker) == []


async def test_memory_bomb_runs_out_of_memory_not_the_machine(marker):
    src = "chunks = []\nwhile True:\n    chunks.append(bytearray(32 * 2**20))\n"
    result = await run_python(src, args=[marker], limits=Limits(memory_mb=256))
    assert result.memory_exceeded
    assert result.describe_exit() == "ran out of memory"
    assert not result.timed_out
    assert processes_with(marker) == []


async def test_one_gigabyte_of_output_is_capped_and_drained(marker):
    src = ("import sys\nblock = b'x' * (1 << 20)\n"
           "for _ in range(1024):\n    sys.stdout.buffer.write(block)\n"
           "sys.stderr.write('done')\n")
    result = await run_python(src, args=[marker], limits=Limits(output_bytes=100_000,
                                                                timeout_s=30))
    assert result.exit_code == 0, result.stderr
    assert result.truncated
    assert len(result.stdout) == 100_000
    assert result.stdout_bytes == 1 << 30
    assert result.stderr == "done"
    assert any("truncated" in n for n in result.notes)
    assert processes_with(marker) == []


async def test_secrets_of_the_caller_stay_out_of_reach(marker, monkeypatch):
    key = f"sk-test-{marker}"
    home = Path(tempfile.mkdtemp(prefix="evalspec-fake-home-", dir="/tmp"))
    try:
        # World-readable on purpose: only the sandbox, not file permissions, keeps it hidden.
        home.chmod(0o755)
        (home / ".ssh").mkdir(mode=0o755)
        (home / ".ssh" / "id_rsa").write_text(f"-----BEGIN FAKE KEY {marker}-----\n")
        (home / ".ssh" / "id_rsa").chmod(0o644)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("OPENAI_API_KEY", key)
        # A process started with the key in its environment, as the evaluator's tools might be.
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                  env={**os.environ, "OPENAI_API_KEY": key})
        try:
            spy = (
                "import glob, os, sys\n"
                "found = [f'env {k}={v}' for k, v in os.environ.items()]\n"
                "for path in [os.path.expanduser('~/.ssh/id_rsa'), sys.argv[2]]:\n"
                "    try:\n"
                "        found.append('file ' + open(path).read())\n"
                "    except OSError as e:\n"
                "        found.append(f'blocked {path}: {e.strerror}')\n"
                "for path in glob.glob('/proc/[0-9]*/environ'):\n"
                "    try:\n"
                "        found.append('proc ' + open(path, 'rb').read().decode(errors='replace'))\n"
                "    except OSError:\n"
                "        pass\n"
                "print('\\n'.join(found))\n"
            )
            result = await run_python(spy, args=[marker, str(home / ".ssh" / "id_rsa")])
        finally:
            holder.kill()
            holder.wait()
    finally:
        import shutil

        shutil.rmtree(home)
    assert result.exit_code == 0, result.stderr
    assert key not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout
    # The marker is on the spy's own command line (/proc/self/environ holds no secret), so
    # look for the key file's contents instead.
    assert "FAKE KEY" not in result.stdout
    if isolation().mode.namespaces:
        assert f"blocked {home}/.ssh/id_rsa" in result.stdout


async def test_network_is_unreachable_when_isolated(marker):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        src = (
            "import socket, sys\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as e:\n"
            "    print('refused', e)\n"
        )
        result = await run_python(src, args=[marker])
        if isolation().mode.namespaces:
            assert result.network_isolated
            assert "refused" in result.stdout
            with pytest.raises(BlockingIOError):
                listener.accept()
        else:
            assert not result.network_isolated
            assert any(n.startswith("network: not isolated") for n in result.notes)
    finally:
        listener.close()
    assert processes_with(marker) == []


async def test_writing_outside_the_working_directory_fails(marker):
    victim = Path(tempfile.mkdtemp(prefix="evalspec-victim-", dir="/tmp"))
    victim.chmod(0o777)  # writable by anyone: only the sandbox can stop the write
    escape = Path("/tmp") / f"evalspec-escape-{marker}"
    shm = Path("/dev/shm") / f"evalspec-escape-{marker}"
    targets = [victim / "pwned.txt", escape, shm, Path("own.txt")]
    src = (
        "import sys\n"
        "for path in sys.argv[2:]:\n"
        "    try:\n"
        "        open(path, 'w').write('pwned')\n"
        "        print('wrote', path)\n"
        "    except OSError as e:\n"
        "        print('blocked', path, e.strerror)\n"
    )
    try:
        result = await run_python(src, args=[marker, *map(str, targets)])
        assert result.exit_code == 0, result.stderr
        assert "wrote own.txt" in result.stdout
        if isolation().mode.readonly:
            assert not (victim / "pwned.txt").exists()
            assert not escape.exists()
            assert f"blocked {victim}/pwned.txt" in result.stdout
            assert f"blocked {escape}" in result.stdout
            # /dev/shm is a private tmpfs: writable inside, invisible outside.
            assert not shm.exists()
        else:
            assert any(n.startswith("filesystem: not read-only") for n in result.notes)
    finally:
        import shutil

        shutil.rmtree(victim, ignore_errors=True)
        escape.unlink(missing_ok=True)
        shm.unlink(missing_ok=True)


async def test_no_privileges_to_regain(marker):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        src = (
            "import os, signal, sys\n"
            "for name, act in [('setuid', lambda: os.setuid(0)),\n"
            "                  ('chroot', lambda: os.chroot('/')),\n"
            f"                  ('kill', lambda: os.kill({sleeper.pid}, signal.SIGKILL))]:\n"
            "    try:\n"
            "        act()\n"
            "        print('allowed', name)\n"
            "    except OSError as e:\n"
            "        print('denied', name)\n"
        )
        result = await run_python(src, args=[marker])
        if isolation().mode.switch_uid:
            assert "allowed" not in result.stdout, result.stdout
            assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_double_forked_daemon_is_killed(marker):
    src = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(1000)\n"  # keeps stdout open, too
        "    os._exit(0)\n"
        "print('parent exits')\n"
    )
    start = time.monotonic()
    result = await run_python(src, args=[marker])
    assert time.monotonic() - start < 5  # did not wait for the daemon's pipes
    assert result.exit_code == 0
    assert result.stdout == "parent exits\n"
    assert result.killed_leftovers >= 1
    assert any("leftover" in n for n in result.notes)
    assert processes_with(marker) == []


async def test_child_processes_left_sleeping_are_killed(marker):
    src = (
        "import subprocess, sys\n"
        "for _ in range(3):\n"
        "    sleeper = [sys.executable, '-c', 'import time; time.sleep(1000)', sys.argv[1]]\n"
        "    subprocess.Popen(sleeper, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,\n"
        "                     start_new_session=True)\n"
    )
    result = await run_python(src, args=[marker])
    assert result.exit_code == 0, result.stderr
    assert result.killed_leftovers == 3
    assert processes_with(marker) == []
