"""Run untrusted (model-written) Python in a throwaway sandbox.

Every run gets a fresh working directory that is also its HOME, a scrubbed environment, its own
session, a wall-clock timeout and rlimits on CPU time, memory, file size and process count, and
output read with a byte cap while the pipes keep draining. On Linux the strongest isolation the
machine allows is picked once per process:

- `root`: running as root with CAP_SYS_ADMIN. The child gets new mount, network and IPC
  namespaces, sees the whole filesystem read-only (its working directory excepted, /dev/shm is a
  private tmpfs, the caller's HOME is hidden) and runs as a fresh unprivileged uid. The uid is
  what makes RLIMIT_NPROC bite (the kernel never enforces it for root) and what lets every
  process the program started be found and killed afterwards, double-forked daemons included.
- `userns`: not root, but unprivileged user namespaces work. The same namespaces inside a new
  user namespace; RLIMIT_NPROC counts per user namespace, so it caps the sandbox alone.
- `uid`: root without namespaces (a container without CAP_SYS_ADMIN): only the uid switch.
- `plain`: none of the above; rlimits and a session only. Results say what is not isolated.

`EVALSPEC_SANDBOX_MODE` forces a mode (for tests, or to opt out of isolation).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import fcntl
import json
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import termios
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "FunctionCallResult",
    "Isolation",
    "Limits",
    "SandboxError",
    "SandboxResult",
    "call_function",
    "harness_source",
    "isolation",
    "run_python",
]


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not set up, spawn or clean up): not the program's fault."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_s: float = 10.0
    """Wall-clock time before everything the program started is killed."""
    cpu_s: float | None = None
    """CPU seconds per process (RLIMIT_CPU); defaults to the timeout plus one second."""
    memory_mb: int = 512
    """Writable private memory per process (RLIMIT_DATA): heap and anonymous maps, not the
    address-space reservations that make RLIMIT_AS break runtimes."""
    output_bytes: int = 1_000_000
    """Kept of stdout and of stderr each; the rest is drained and discarded."""
    processes: int = 64
    """Processes and threads the sandbox may have at once (RLIMIT_NPROC)."""
    file_mb: int = 64
    """Largest file the program may write (RLIMIT_FSIZE)."""


@dataclass(frozen=True, slots=True)
class SandboxResult:
    exit_code: int | None
    """None when the process was killed by a signal."""
    signal: str | None
    """The signal that killed the process, e.g. `SIGKILL`."""
    stdout: str
    stderr: str
    timed_out: bool
    memory_exceeded: bool
    cpu_exceeded: bool
    truncated: bool
    """Output went past `Limits.output_bytes` and the excess was discarded."""
    duration_s: float
    network_isolated: bool
    killed_leftovers: int
    """Processes the program left behind (daemons, children) that had to be killed."""
    isolation: str
    notes: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    """Files the caller asked to collect from the working directory, as text."""
    stdout_bytes: int = 0
    stderr_bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe_exit(self) -> str:
        if self.timed_out:
            return "timed out"
        if self.cpu_exceeded:
            return "killed: CPU time limit exceeded"
        if self.memory_exceeded:
            return "ran out of memory"
        if self.signal is not None:
            return f"killed by {self.signal}"
        return f"exit code {self.exit_code}"

    def evidence(self, tail: int = 2000) -> dict[str, Any]:
        """A JSON-serialisable summary with the tails of the output."""
        return {
            "exit": self.describe_exit(), "exit_code": self.exit_code, "signal": self.signal,
            "timed_out": self.timed_out, "memory_exceeded": self.memory_exceeded,
            "cpu_exceeded": self.cpu_exceeded, "duration_s": round(self.duration_s, 3),
            "stdout_tail": _tail(self.stdout, tail), "stderr_tail": _tail(self.stderr, tail),
            "stdout_bytes": self.stdout_bytes, "stderr_bytes": self.stderr_bytes,
            "truncated": self.truncated, "isolation": self.isolation,
            "network": "isolated" if self.network_isolated else "not isolated",
            "killed_leftovers": self.killed_leftovers, "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class FunctionCallResult:
    ok: bool
    value_json: str | None
    """The return value, JSON-encoded (sets become lists; other objects their repr)."""
    error: str | None
    """The exception (`ZeroDivisionError: division by zero`) or why the call did not finish."""
    stdout: str = ""


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else "…" + text[-n:]


# --- Linux plumbing ----------------------------------------------------------------------------

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_SYS_MOUNT_SETATTR = 442  # the same on every architecture (Linux >= 5.12)
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOSUID = 0x2
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_SIOCSIFFLAGS = 0x8914
_IFF_UP_LOOPBACK_RUNNING = 0x1 | 0x8 | 0x40

# A failed setup step in the child is reported on its stderr with this prefix and exit code,
# because an exception in preexec_fn reaches the parent without its message.
_SETUP_MARK = "evalspec-sandbox-setup-failed: "
_SETUP_EXIT = 125
_TIMEOUT_GRACE_S = 0.25
"""After the timeout the program gets SIGINT (Python prints where it was stuck), then SIGKILL."""


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _sys(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    assert _libc is not None
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    _sys(_libc.mount(enc(source), target.encode(), enc(fstype), flags, enc(data)),
         f"mount {target}")


def _mount_setattr(path: str, set_: int, clear: int, recursive: bool) -> None:
    assert _libc is not None
    attr = _MountAttr(set_, clear, 0, 0)
    _sys(_libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, path.encode(),
                       _AT_RECURSIVE if recursive else 0, ctypes.byref(attr),
                       ctypes.sizeof(attr)), f"mount_setattr {path}")


# --- isolation modes ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Mode:
    name: str
    namespaces: bool = False
    userns: bool = False
    readonly: bool = False
    switch_uid: bool = False

    @property
    def network_isolated(self) -> bool:
        return self.namespaces


_MODES = {
    "root": _Mode("root", namespaces=True, readonly=True, switch_uid=True),
    "root-rw": _Mode("root-rw", namespaces=True, switch_uid=True),
    "userns": _Mode("userns", namespaces=True, userns=True, readonly=True),
    "userns-rw": _Mode("userns-rw", namespaces=True, userns=True),
    "uid": _Mode("uid", switch_uid=True),
    "plain": _Mode("plain"),
}


@dataclass(frozen=True, slots=True)
class Isolation:
    """What the sandbox can enforce on this machine, decided once per process."""

    mode: _Mode
    notes: tuple[str, ...]
    """What is not isolated, and why."""

    def describe(self) -> dict[str, Any]:
        m = self.mode
        return {
            "mode": m.name,
            "network": "isolated" if m.namespaces else "not isolated",
            "filesystem": ("read-only outside the working directory" if m.readonly
                           else "writable where the user may write"),
            "processes": ("capped and all killed at the end" if m.switch_uid or m.userns
                          else "capped only per user; leftovers found by session"),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class _ChildSetup:
    """Everything the preexec step needs, computed in the parent."""

    mode: _Mode
    workdir: str
    uid: int
    gid: int
    outer_uid: int
    outer_gid: int
    exposures: tuple[tuple[str, tuple[str, ...]], ...]
    rlimits: tuple[tuple[int, int, int], ...]
    pty: bool


def _setup_child(cfg: _ChildSetup) -> None:
    """Runs in the forked child before exec. Any failure ends the child with a marker."""
    try:
        _setup_child_steps(cfg)
    except BaseException as exc:  # reported to the parent, never raised
        with contextlib.suppress(OSError):
            os.write(2, f"{_SETUP_MARK}{type(exc).__name__}: {exc}\n".encode())
        os._exit(_SETUP_EXIT)


def _setup_child_steps(cfg: _ChildSetup) -> None:
    m = cfg.mode
    assert _libc is not None or not (m.namespaces or m.switch_uid)
    if m.namespaces:
        assert _libc is not None
        flags = _CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWIPC
        _sys(_libc.unshare(flags | (_CLONE_NEWUSER if m.userns else 0)), "unshare")
        if m.userns:
            # Map only ourselves: the kernel then counts RLIMIT_NPROC for this namespace alone.
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{cfg.outer_uid} {cfg.outer_uid} 1")
            Path("/proc/self/gid_map").write_text(f"{cfg.outer_gid} {cfg.outer_gid} 1")
        # Nothing mounted from here on may leak back into the host's mount table.
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        for hidden, keep in cfg.exposures:
            # Cover `hidden` with an empty tmpfs but keep the subtrees the interpreter needs.
            fds = [os.open(os.path.join(hidden, k), os.O_PATH | os.O_CLOEXEC) for k in keep]
            _mount("tmpfs", hidden, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=755,size=1m")
            for name, fd in zip(keep, fds, strict=True):
                target = os.path.join(hidden, name)
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.mkdir(target)
                else:
                    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
                _mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC)
                os.close(fd)
        if m.readonly:
            _mount_setattr("/", _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, recursive=True)
            _mount(cfg.workdir, cfg.workdir, None, _MS_BIND)
            _mount_setattr(cfg.workdir, 0, _MOUNT_ATTR_RDONLY, recursive=False)
            if os.path.isdir("/dev/shm"):
                # multiprocessing needs a writable /dev/shm; give it a private, small one.
                _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV,
                       "mode=1777,size=64m")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            # A loopback of its own, so a program may talk to itself but reach nothing else.
            fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", _IFF_UP_LOOPBACK_RUNNING))
    # The cwd was entered before the mounts; enter it again to see the writable bind.
    os.chdir(cfg.workdir)
    for which, soft, hard in cfg.rlimits:
        resource.setrlimit(which, (soft, hard))
    if _libc is not None:
        _sys(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if m.switch_uid:
        os.setgroups([])
        os.setresgid(cfg.gid, cfg.gid, cfg.gid)
        os.setresuid(cfg.uid, cfg.uid, cfg.uid)
    if _libc is not None:
        # After the uid switch: changing credentials clears the parent-death signal.
        _sys(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
    if cfg.pty:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _needed_paths() -> list[str]:
    """Directories the interpreter must reach: its binary, the stdlib, site-packages."""
    paths = {os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)}
    for p in (sys.prefix, sys.base_prefix, *sysconfig.get_paths().values()):
        paths.add(p)
        paths.add(os.path.realpath(p))
    return sorted(p for p in paths if p and os.path.isdir(p))


def _exposures(needed: Sequence[str], hide: Sequence[str],
               switch_uid: bool) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Which directories to cover with a tmpfs, and which children to keep visible in each.

    Hidden: the caller's HOME, and (when the child runs as another uid) every ancestor of a
    needed path that others may not traverse, e.g. /root holding a pyenv interpreter.
    """
    hidden: set[str] = {os.path.realpath(h) for h in hide if h and os.path.isdir(h)}
    if switch_uid:
        for p in needed:
            parts = Path(p).parts
            for i in range(2, len(parts)):
                anc = os.path.join(*parts[:i])
                with contextlib.suppress(OSError):
                    if not os.stat(anc).st_mode & stat.S_IXOTH:
                        hidden.add(anc)
    hidden.discard("/")
    out = []
    for h in sorted(hidden, key=lambda d: (d.count(os.sep), d)):
        keep = sorted({Path(os.path.relpath(p, h)).parts[0] for p in needed
                       if p.startswith(h + os.sep)})
        out.append((h, tuple(keep)))
    return tuple(out)


_isolation: Isolation | None = None
_isolation_lock = threading.Lock()
_base_dir: str | None = None


def _sandbox_base() -> str:
    """One directory per process holding every sandbox; others may enter but not list it."""
    global _base_dir
    if _base_dir is None:
        base = tempfile.mkdtemp(prefix="evalspec-sandbox-")
        os.chmod(base, 0o711)
        atexit.register(shutil.rmtree, base, True)
        _base_dir = base
    return _base_dir


def _uid_reachable() -> bool:
    """Whether a stranger uid could even start this interpreter without mount tricks."""
    for p in [*_needed_paths(), _sandbox_base()]:
        parts = Path(p).parts
        for i in range(2, len(parts) + 1):
            with contextlib.suppress(OSError):
                if not os.stat(os.path.join(*parts[:i])).st_mode & stat.S_IXOTH:
                    return False
    return True


def _candidates() -> list[_Mode]:
    forced = os.environ.get("EVALSPEC_SANDBOX_MODE")
    if forced:
        if forced not in _MODES:
            raise SandboxError(f"EVALSPEC_SANDBOX_MODE={forced!r} is not one of "
                               + ", ".join(_MODES))
        return [_MODES[forced]]
    if not sys.platform.startswith("linux"):
        return [_MODES["plain"]]
    if os.geteuid() == 0:
        order = ["root", "root-rw", "uid", "plain"] if _uid_reachable() else [
            "root", "root-rw", "plain"]
        return [_MODES[n] for n in order]
    return [_MODES[n] for n in ("userns", "userns-rw", "plain")]


def isolation() -> Isolation:
    """Detect (once) the strongest mode that works here by running a trivial program in it."""
    global _isolation
    with _isolation_lock:
        if _isolation is None:
            failures: list[str] = []
            for mode in _candidates():
                why = _self_test(mode)
                if why is None:
                    _isolation = Isolation(mode, _mode_notes(mode, failures))
                    break
                failures.append(f"{mode.name}: {why}")
            else:
                raise SandboxError("no sandbox mode works here: " + "; ".join(failures))
        return _isolation


def _mode_notes(mode: _Mode, failures: list[str]) -> tuple[str, ...]:
    notes = []
    why = f" ({failures[0]})" if failures else ""
    if not mode.namespaces:
        notes.append(f"network: not isolated{why}")
    if not mode.readonly:
        notes.append(f"filesystem: not read-only outside the working directory{why}")
    if not (mode.switch_uid or mode.userns):
        notes.append("processes: RLIMIT_NPROC counts all of this user's processes"
                     + (" and is not enforced for root" if os.geteuid() == 0 else ""))
    return tuple(notes)


def _self_test(mode: _Mode) -> str | None:
    workdir, uid = _make_workdir(mode)
    try:
        Path(workdir, "main.py").write_text("open('ok', 'w').write('ok')\n")
        _chown_tree(workdir, uid, mode)
        cfg = _child_setup(mode, workdir, uid, Limits(timeout_s=10), pty=False)
        try:
            proc = subprocess.run(
                [sys.executable, "main.py"], cwd=workdir, env=_base_env(workdir, {}),
                capture_output=True, timeout=20, start_new_session=True,
                preexec_fn=lambda: _setup_child(cfg))
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if proc.returncode != 0 or not Path(workdir, "ok").exists():
            err = proc.stderr.decode(errors="replace").strip()
            return err.removeprefix(_SETUP_MARK)[-300:] or f"exit code {proc.returncode}"
        return None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- one run -----------------------------------------------------------------------------------

def _make_workdir(mode: _Mode) -> tuple[str, int]:
    workdir = tempfile.mkdtemp(prefix="run-", dir=_sandbox_base())
    os.mkdir(os.path.join(workdir, "tmp"))
    # A fresh uid per run: its processes are then exactly the sandbox's.
    uid = secrets.randbelow(1_000_000_000) + 1_000_000_000 if mode.switch_uid else os.getuid()
    return workdir, uid


def _chown_tree(workdir: str, uid: int, mode: _Mode) -> None:
    if not mode.switch_uid:
        return
    for root, dirs, files in os.walk(workdir):
        os.chown(root, uid, uid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def _child_setup(mode: _Mode, workdir: str, uid: int, limits: Limits, pty: bool) -> _ChildSetup:
    cpu = math.ceil(limits.cpu_s if limits.cpu_s is not None else limits.timeout_s + 1)
    mem = limits.memory_mb * 1024 * 1024
    nofile = min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    rlimits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_DATA, mem, mem),
        (resource.RLIMIT_FSIZE, limits.file_mb * 1024 * 1024, limits.file_mb * 1024 * 1024),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, nofile, nofile),
    ]
    if mode.switch_uid or mode.userns:
        rlimits.append((resource.RLIMIT_NPROC, limits.processes, limits.processes))
    exposures = ()
    if mode.namespaces:
        exposures = _cached_exposures(mode)
    return _ChildSetup(mode, workdir, uid, uid, os.getuid(), os.getgid(), exposures,
                       tuple(rlimits), pty)


_exposure_cache: dict[tuple[str, str], tuple[tuple[str, tuple[str, ...]], ...]] = {}


def _cached_exposures(mode: _Mode) -> tuple[tuple[str, tuple[str, ...]], ...]:
    home = os.environ.get("HOME", "")
    key = (mode.name, home)
    if key not in _exposure_cache:
        needed = [*_needed_paths(), _sandbox_base()]
        _exposure_cache[key] = _exposures(needed, [home] if home else [], mode.switch_uid)
    return _exposure_cache[key]


def _base_env(workdir: str, extra: Mapping[str, str]) -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    env = {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir, "TMPDIR": os.path.join(workdir, "tmp"), "USER": "sandbox",
        "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0", "TERM": "dumb",
        # Headless by default: pygame and friends draw into memory, numerical libraries stay
        # on one thread (threads count against the process cap).
        "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1",
        "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    env.update(extra)
    return env


class _Collector(asyncio.SubprocessProtocol):
    """Keeps up to `cap` bytes per stream and drains the rest, so the child never blocks."""

    def __init__(self, cap: int, loop: asyncio.AbstractEventLoop) -> None:
        self.cap = cap
        self.kept: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.seen: dict[int, int] = {1: 0, 2: 0}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.open_pipes = {1, 2}
        self.drained: asyncio.Future[None] = loop.create_future()

    def data(self, fd: int, data: bytes) -> None:
        self.seen[fd] += len(data)
        buf = self.kept[fd]
        room = self.cap - len(buf)
        if room > 0:
            buf += data[:room]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.data(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.open_pipes.discard(fd)
        if not self.open_pipes and not self.drained.done():
            self.drained.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class _PtyReader(asyncio.Protocol):
    def __init__(self, collector: _Collector) -> None:
        self.collector = collector

    def data_received(self, data: bytes) -> None:
        self.collector.data(1, data)

    def connection_lost(self, exc: Exception | None) -> None:
        # EIO once the last slave closes: that is the terminal's EOF.
        self.collector.pipe_connection_lost(1, None)


_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary())


def _slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    sem = _semaphores.get(loop)
    if sem is None:
        sem = _semaphores[loop] = asyncio.Semaphore(os.cpu_count() or 1)
    return sem


def _write_files(workdir: str, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = Path(workdir, rel)
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"sandbox file {rel!r} must be a relative path inside the sandbox")
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _read_collected(workdir: str, names: Sequence[str], cap: int) -> dict[str, str]:
    out = {}
    for name in names:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"collect {name!r}: only plain file names in the working directory")
        # The program owns the directory: never follow a link it may have planted.
        try:
            fd = os.open(os.path.join(workdir, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as f:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                out[name] = f.read(cap).decode("utf-8", errors="replace")
    return out


async def run_python(
    source: str,
    *,
    stdin: str = "",
    files: Mapping[str, str | bytes] | None = None,
    args: Sequence[str] = (),
    limits: Limits = Limits(),  # frozen, so a shared default is safe
    env: Mapping[str, str] | None = None,
    pty: bool = False,
    filename: str = "main.py",
    collect: Sequence[str] = (),
) -> SandboxResult:
    """Run `source` as the script `filename` in a fresh sandbox and report what happened.

    Raises SandboxError only when the sandbox itself fails; whatever the program does is
    described by the result.
    """
    loop = asyncio.get_running_loop()
    iso = _isolation or await asyncio.to_thread(isolation)
    mode = iso.mode
    async with _slots():
        workdir, uid = _make_workdir(mode)
        try:
            _write_files(workdir, {**(files or {}), filename: source})
            _chown_tree(workdir, uid, mode)
            return await _run(loop, iso, workdir, uid, filename, stdin, args, limits,
                              env or {}, pty, collect)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _run(loop: asyncio.AbstractEventLoop, iso: Isolation, workdir: str, uid: int,
               filename: str, stdin: str, args: Sequence[str], limits: Limits,
               env: Mapping[str, str], pty: bool, collect: Sequence[str]) -> SandboxResult:
    mode = iso.mode
    cfg = _child_setup(mode, workdir, uid, limits, pty)
    run_env = _base_env(workdir, {"TERM": "xterm-256color"} if pty else {})
    run_env.update(env)
    collector = _Collector(limits.output_bytes, loop)
    master = slave = -1
    stdio: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE,
                             "stderr": subprocess.PIPE}
    if pty:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        stdio.update(stdin=slave, stdout=slave)
    start = time.perf_counter()
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: collector, sys.executable, filename, *args, cwd=workdir, env=run_env,
            start_new_session=True, preexec_fn=lambda: _setup_child(cfg), **stdio)
    except (OSError, subprocess.SubprocessError) as exc:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        raise SandboxError(f"could not start the sandboxed program: {exc}") from exc
    pid = transport.get_pid()
    ident = _identity(mode, uid, pid)
    reader: asyncio.BaseTransport | None = None
    writer: asyncio.BaseTransport | None = None
    try:
        if pty:
            os.close(slave)
            collector.open_pipes.add(1)
            if stdin:
                # Through a transport: a pty takes only a few KB before writes would block.
                writer, _ = await loop.connect_write_pipe(
                    asyncio.Protocol, os.fdopen(os.dup(master), "wb", buffering=0))
                writer.write(stdin.encode())
            reader, _ = await loop.connect_read_pipe(lambda: _PtyReader(collector),
                                                     os.fdopen(master, "rb", buffering=0))
        else:
            pipe = transport.get_pipe_transport(0)
            if pipe is not None:
                if stdin:
                    pipe.write(stdin.encode())
                pipe.write_eof()
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(collector.exited), limits.timeout_s)
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGINT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(collector.exited), _TIMEOUT_GRACE_S)
        duration = time.perf_counter() - start
        main_alive = not collector.exited.done()
        killed = await asyncio.to_thread(_kill_all, ident, mode, uid)
        if main_alive:
            killed -= 1  # the main process is not a leftover
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(collector.exited), 5)
        with contextlib.suppress(TimeoutError):
            # Everything holding the pipes is dead now; what remains is in the kernel buffer.
            await asyncio.wait_for(asyncio.shield(collector.drained), 2)
    except BaseException:
        _kill_all(ident, mode, uid)
        raise
    finally:
        transport.close()
        for t in (writer, reader):
            if t is not None:
                t.close()
    returncode = transport.get_returncode()
    return _result(iso, collector, returncode, timed_out, duration, max(killed, 0), limits,
                   _read_collected(workdir, collect, limits.output_bytes))


def _result(iso: Isolation, col: _Collector, returncode: int | None, timed_out: bool,
            duration: float, killed: int, limits: Limits, files: dict[str, str]) -> SandboxResult:
    stdout = col.kept[1].decode("utf-8", errors="replace")
    stderr = col.kept[2].decode("utf-8", errors="replace")
    if returncode == _SETUP_EXIT and _SETUP_MARK in stderr:
        raise SandboxError("sandbox setup failed: " + stderr.split(_SETUP_MARK, 1)[1].strip())
    sig = None
    exit_code = returncode
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode).name
        exit_code = None
    cpu = sig == "SIGXCPU" or (sig == "SIGKILL" and not timed_out and _cpu_hint(duration, limits))
    last = stderr.rstrip().rsplit("\n", 1)[-1] if stderr.strip() else ""
    # MemoryError, numpy's _ArrayMemoryError, C++'s bad_alloc, malloc failures.
    memory = ("MemoryError" in last.split(":", 1)[0] or "Cannot allocate memory" in last
              or "std::bad_alloc" in stderr[-2000:] or "out of memory" in last.lower())
    notes = list(iso.notes)
    truncated = col.seen[1] > len(col.kept[1]) or col.seen[2] > len(col.kept[2])
    if truncated:
        notes.append(f"output truncated to {limits.output_bytes} bytes per stream "
                     f"(stdout {col.seen[1]} bytes, stderr {col.seen[2]} bytes)")
    if killed:
        notes.append(f"killed {killed} leftover process(es) the program started")
    return SandboxResult(
        exit_code=exit_code, signal=sig, stdout=stdout, stderr=stderr, timed_out=timed_out,
        memory_exceeded=memory, cpu_exceeded=cpu, truncated=truncated, duration_s=duration,
        network_isolated=iso.mode.network_isolated, killed_leftovers=killed,
        isolation=iso.mode.name, notes=tuple(notes), files=files,
        stdout_bytes=col.seen[1], stderr_bytes=col.seen[2])


def _cpu_hint(duration: float, limits: Limits) -> bool:
    cpu = limits.cpu_s if limits.cpu_s is not None else limits.timeout_s + 1
    return duration >= math.ceil(cpu)


# --- finding and killing what the program left behind -----------------------------------------

@dataclass(frozen=True, slots=True)
class _Identity:
    """How to recognise the sandbox's processes: by uid, network namespace, or session."""

    uid: int | None = None
    netns: str | None = None
    session: int | None = None


def _identity(mode: _Mode, uid: int, pid: int) -> _Identity:
    if mode.switch_uid:
        return _Identity(uid=uid)
    netns = None
    if mode.namespaces:
        with contextlib.suppress(OSError):
            netns = os.readlink(f"/proc/{pid}/ns/net")
    return _Identity(netns=netns, session=pid)


def _alive(pid: str) -> bool:
    """Not a zombie: a dead process waiting to be reaped holds nothing and runs nothing."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        line = f.read()
    return line[line.rindex(b")") + 2:][:1] not in (b"Z", b"X")


def _proc_matches(pid: str, ident: _Identity) -> bool:
    """Alive and one of ours."""
    try:
        if ident.uid is not None:
            # One stat per process: /proc/<pid> belongs to the process's uid. A process that
            # made itself non-dumpable shows up as root here, so it is not counted, but the
            # kill(-1) sweep below reaches it all the same.
            return os.stat(f"/proc/{pid}").st_uid == ident.uid and _alive(pid)
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read()
        fields = line[line.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return False
        if ident.session is not None and int(fields[4]) == ident.session:
            return True
        return ident.netns is not None and os.readlink(f"/proc/{pid}/ns/net") == ident.netns
    except (OSError, ValueError, IndexError):
        return False


def _sandbox_pids(ident: _Identity) -> set[int]:
    if not os.path.isdir("/proc"):
        return set()
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _proc_matches(p, ident)}


def _kill_as(uid: int) -> None:
    """In a forked child: become `uid`, kill everything it owns, and leave before any exec
    (the sandbox uid may not even reach an executable)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    os.kill(-1, signal.SIGKILL)
    os._exit(0)


def _sweep(uid: int) -> None:
    subprocess.run(["/"], preexec_fn=lambda: _kill_as(uid), check=False, env={},
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10)


def _kill_all(ident: _Identity, mode: _Mode, uid: int) -> int:
    """Kill every process of the sandbox; return how many there were. Blocks up to ~2 s."""
    seen = _sandbox_pids(ident)
    deadline = time.monotonic() + 2.0
    alive = seen
    while True:
        if mode.switch_uid:
            # Always, even when the scan saw nothing: kill(-1) from inside the uid reaches
            # every one of its processes in one atomic sweep, hidden or not, and a fork bomb
            # cannot outrun it the way it can outrun a pid-by-pid loop.
            _sweep(uid)
        else:
            if ident.session is not None:
                # Without /proc (macOS) the session's process group is all that can be found.
                with contextlib.suppress(OSError):
                    os.killpg(ident.session, signal.SIGKILL)
            for pid in alive:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGSTOP)
            for pid in alive:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        alive = _sandbox_pids(ident)
        if not alive:
            return len(seen)
        seen |= alive
        if time.monotonic() > deadline:
            raise SandboxError(f"could not kill sandbox processes {sorted(alive)}")
        time.sleep(0.005)


# --- calling one function ----------------------------------------------------------------------

def harness_source(name: str) -> str:
    """The text of a helper script shipped in evalspec/checks/harness/."""
    return resources.files("evalspec.checks.harness").joinpath(name).read_text(encoding="utf-8")


async def call_function(
    source: str,
    function: str,
    kwargs: Mapping[str, Any],
    limits: Limits = Limits(),  # frozen, so a shared default is safe
    *,
    module: str = "tools",
) -> FunctionCallResult:
    """Import `source` as the module `module` in the sandbox and call `function(**kwargs)`."""
    try:
        payload = json.dumps({"function": function, "kwargs": dict(kwargs)})
    except (TypeError, ValueError) as exc:
        return FunctionCallResult(False, None, f"arguments are not JSON: {exc}")
    token = secrets.token_hex(8)
    report = f".call-{token}.json"
    result = await run_python(
        harness_source("call.py"), files={f"{module}.py": source, "call.json": payload},
        args=[f"{module}.py", "call.json", report], limits=limits, filename="call_runner.py",
        collect=[report])
    text = result.files.get(report)
    if result.timed_out:
        return FunctionCallResult(False, None, f"timed out after {limits.timeout_s:g} s",
                                  result.stdout)
    if text is None:
        return FunctionCallResult(False, None, _no_report(result), result.stdout)
    try:
        data = json.loads(text)
    except ValueError:
        return FunctionCallResult(False, None, "the call's result could not be read",
                                  result.stdout)
    if data.get("ok"):
        return FunctionCallResult(True, data["value_json"], None, result.stdout)
    return FunctionCallResult(False, None, data.get("error") or "unknown error", result.stdout)


def _no_report(result: SandboxResult) -> str:
    if result.timed_out:
        return "timed out"
    last = result.stderr.strip().rsplit("\n", 1)[-1] if result.stderr.strip() else ""
    return f"the function did not return ({result.describe_exit()}){': ' + last if last else ''}"

