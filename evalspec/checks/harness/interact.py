"""Run an interactive program for a while, press keys, and report what was seen.

Runs inside the sandbox. usage: interact.py CONFIG.json, where CONFIG holds
{"solution": "solution.py", "display": "none" | "pygame" | "curses", "duration": 4.0,
 "events": ["LEFT", "RIGHT", "UP"], "probe": "probe.py" | null, "report": "report.json"}.

How responsiveness is judged: after a warm-up, the probe alternates "control" windows (no
input) with key presses. For each window it compares the screen just before with the screen a
couple of frames later. A key counts as answered when the screen changed after most of its
presses and clearly more often than in the control windows (a falling piece changes the screen
on its own now and then). For LEFT and RIGHT the horizontal shift of the changed pixels is also
measured, which still tells a responsive game from a deaf one when something moves every frame.

pygame runs in this process: the probe patches pygame before the program imports it, runs the
program as __main__, posts real KEYDOWN/KEYUP events and captures the display at flips.
curses runs as a child on a pseudo-terminal; keys are the terminfo sequences, and "the screen
changed" means the program wrote to the terminal (ncurses only sends what changed).

A rotation of Tetris's square piece changes nothing on screen, so listing a drop key (SPACE or
DOWN) among the events lets each round work on a new piece.
"""

import json
import math
import os
import random
import sys
import threading
import time
import traceback
import types

WARMUP_S = 0.3
SPACING_S = 0.1
WINDOW_FLIPS = 2
WINDOW_MAX_S = 0.3
KEYUP_AFTER_S = 0.05
MAX_ROUNDS = 4
LATE_S = 1.0
CURSES_WINDOW_S = 0.1
"""A curses program answers a key within one turn of its loop; a short window keeps changes
that merely happen to fall into it (a piece dropping a row) rare."""
SEEDED_RUN = ("import random, runpy, sys; random.seed(0); sys.argv = sys.argv[1:]; "
              "runpy.run_path(sys.argv[0], run_name='__main__')")

_started = time.monotonic()
_lock = threading.Lock()
_finished = False


def now():
    return time.monotonic() - _started


def build_schedule(events, duration, start):
    """(time, key or None) pairs: a control window before every key press, in rounds."""
    if not events:
        return []
    per_round = 2 * len(events) * SPACING_S
    rounds = max(1, min(MAX_ROUNDS, int((duration - start - 0.3) / per_round)))
    out = []
    t = start
    for _ in range(rounds):
        for key in events:
            out.append((t, None))
            out.append((t + SPACING_S, key))
            t += 2 * SPACING_S
    return out


def beyond_chance(hits, presses, control_hits, controls):
    """Whether `hits` of `presses` is more than the control windows' rate explains.

    A one-sided binomial test at 5 %, with the control rate smoothed (one imagined change
    and one imagined calm window) so that a calm control set does not make one lucky
    press proof: with the usual 8 to 16 control windows, two presses must both change the
    screen, and a single press is never enough.
    """
    if not presses or hits * 2 < presses:
        return False
    p0 = (control_hits + 1) / (controls + 2)
    tail = sum(math.comb(presses, j) * p0 ** j * (1 - p0) ** (presses - j)
               for j in range(hits, presses + 1))
    return tail < 0.05


def summarise(windows, events):
    """Per key: presses, how many changed the screen, and whether that counts as an answer."""
    done = [w for w in windows if w.get("closed")]
    controls = [w for w in done if w["key"] is None]
    c_changed = sum(1 for w in controls if w["changed"])
    keys = {}
    for key in events:
        presses = [w for w in done if w["key"] == key]
        changed = sum(1 for w in presses if w["changed"])
        entry = {"presses": len(presses), "changed": changed}
        responded = beyond_chance(changed, len(presses), c_changed, len(controls))
        why = (f"{changed} of {len(presses)} presses changed the screen, against "
               f"{c_changed} of {len(controls)} windows without input")
        sign = {"LEFT": -1, "RIGHT": 1}.get(key)
        if sign is not None and any(w.get("dx") is not None for w in presses):
            # Where the shift can be measured it decides: a falling piece changes the screen
            # as often as a moving one, but only a moved piece shifts sideways.
            hits = sum(1 for w in presses if (w.get("dx") or 0) * sign > 1.0)
            c_hits = sum(1 for w in controls if (w.get("dx") or 0) * sign > 1.0)
            entry["moved"] = hits
            responded = beyond_chance(hits, len(presses), c_hits, len(controls))
            why += (f"; the drawing shifted {key.lower()} after {hits} of {len(presses)} "
                    f"presses, against {c_hits} of {len(controls)} windows without input")
        if not presses:
            why = "never pressed: the program did not get far enough in the time given"
        elif len(presses) < 2:
            why += "; one press cannot tell a response from chance: give it more time"
        entry["responded"] = responded
        entry["why"] = why
        keys[key] = entry
    return {"controls": {"windows": len(controls), "changed": c_changed}, "keys": keys}


class Report:
    def __init__(self, cfg):
        self.cfg = cfg
        self.data = {"display": cfg["display"], "duration": cfg["duration"],
                     "events": list(cfg.get("events") or []), "outcome": None,
                     "exit_code": None, "traceback": None, "harness_error": None}

    def finish(self, outcome, probe_globals=None, **facts):
        """Write the report once, from whichever thread gets here first, then leave."""
        global _finished
        with _lock:
            if _finished:
                return
            _finished = True
        data = self.data
        data["outcome"] = outcome
        data["elapsed"] = round(now(), 3)
        data.update(facts)
        try:
            self.extend(data)
            self.run_probe(data, probe_globals)
        except BaseException:  # the report must still be written
            data["harness_error"] = "the probe failed: " + traceback.format_exc()[-1500:]
        tmp = self.cfg["report"] + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, default=repr)
        os.replace(tmp, self.cfg["report"])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0 if outcome in ("survived", "returned") else 1)

    def extend(self, data):
        """Hook for display-specific facts."""

    def run_probe(self, data, probe_globals):
        path = self.cfg.get("probe")
        if not path:
            return
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        ns = dict(probe_globals or {})
        ns["report"] = data
        try:
            exec(code, ns)
        except AssertionError as exc:
            data["probe"] = {"ok": False, "error": f"AssertionError: {exc}".rstrip(": ")}
        except Exception as exc:
            data["probe"] = {"ok": False,
                             "error": traceback.format_exception_only(type(exc), exc)[-1].strip()}
        else:
            data["probe"] = {"ok": True, "error": None}


def run_in_process(report, module):
    """Run the solution as __main__ here; a watchdog thread ends the run at the deadline."""
    cfg = report.cfg
    remaining = max(0.0, cfg["duration"] - now())

    def deadline():
        late = now() - cfg["duration"]
        if late > LATE_S:
            # This thread could not run for a long while: the program held the interpreter
            # (one endless C call), which is a hang however it ends.
            report.finish("hung", module.__dict__, late_s=round(late, 3))
        report.finish("survived", module.__dict__)

    timer = threading.Timer(remaining, deadline)
    timer.daemon = True
    timer.start()
    path = cfg["solution"]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    sys.argv = [path]
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        report.finish("exited", module.__dict__, exit_code=code)
    except BaseException:
        report.finish("crashed", module.__dict__, traceback=_program_traceback())
    report.finish("returned", module.__dict__, exit_code=0)


def _program_traceback():
    """The traceback without the harness's own frames."""
    etype, value, tb = sys.exc_info()
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(etype, value, tb))[-4000:]


def main_module(path):
    # A fixed seed replays the same game on every run (the same pieces, in the same order),
    # so a verdict can be reproduced.
    random.seed(0)
    module = types.ModuleType("__main__")
    module.__file__ = os.path.abspath(path)
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    return module


# --- pygame ------------------------------------------------------------------------------------

class PygameProbe(Report):
    MAX_SIDE = 400

    def __init__(self, cfg):
        super().__init__(cfg)
        self.events = list(cfg.get("events") or [])
        self.frames = 0
        self.first_frame = None
        self.schedule = None
        self.next_action = 0
        self.windows = []
        self.open = None
        self.last_frame = None
        self.held = {}
        self.size = None

    def install(self):
        import pygame

        self.pg = pygame
        self.keycodes = {}
        for name in self.events:
            code = key_code(pygame, name)
            if code is None:
                self.data["harness_error"] = f"unknown key name {name!r} for pygame"
                self.finish("error")
            self.keycodes[name] = code
        display, event = pygame.display, pygame.event
        real = {"flip": display.flip, "update": display.update, "get": event.get,
                "poll": event.poll, "wait": event.wait, "pump": event.pump,
                "pressed": pygame.key.get_pressed}
        self.real = real

        def flip(*a, **k):
            result = real["flip"](*a, **k)
            self.after_frame()
            return result

        def update(*a, **k):
            result = real["update"](*a, **k)
            self.after_frame()
            return result

        def get(*a, **k):
            self.tick()
            return real["get"](*a, **k)

        def poll(*a, **k):
            self.tick()
            return real["poll"](*a, **k)

        def wait(*a, **k):
            self.tick()
            return real["wait"](*a, **k)

        def pump(*a, **k):
            self.tick()
            return real["pump"](*a, **k)

        def get_pressed(*a, **k):
            self.tick()
            return Pressed(real["pressed"](*a, **k), {self.keycodes[n] for n in self.held})

        display.flip, display.update = flip, update
        event.get, event.poll, event.wait, event.pump = get, poll, wait, pump
        pygame.key.get_pressed = get_pressed

    def snapshot(self):
        pg = self.pg
        try:
            surf = pg.display.get_surface()
        except pg.error:
            return None
        if surf is None:
            return None
        w, h = surf.get_size()
        self.size = [w, h]
        factor = max(1, math.ceil(max(w, h) / self.MAX_SIDE))
        small = pg.transform.scale(surf, (max(1, w // factor), max(1, h // factor)))
        tobytes = getattr(pg.image, "tobytes", None) or pg.image.tostring
        return (small.get_size(), factor, tobytes(small, "RGB"))

    def after_frame(self):
        t = now()
        self.frames += 1
        if self.first_frame is None:
            self.first_frame = t
            self.schedule = build_schedule(self.events, self.cfg["duration"], t + WARMUP_S)
        win = self.open
        if win is not None:
            win["frames"] += 1
            win["post"] = self.snapshot()
            if win["frames"] >= WINDOW_FLIPS:
                self.close_window(win["post"])
        elif self.action_due_within(0.2):
            # Keep the last frame shown before an action: it is the "before" picture.
            self.last_frame = self.snapshot()
        self.tick()

    def action_due_within(self, s):
        sched = self.schedule
        return sched is not None and self.next_action < len(sched) and (
            sched[self.next_action][0] - now() <= s)

    def tick(self):
        t = now()
        for name, down_at in list(self.held.items()):
            if t - down_at >= KEYUP_AFTER_S:
                del self.held[name]
                self.post(self.pg.KEYUP, name)
        win = self.open
        if win is not None and t - win["at"] > WINDOW_MAX_S:
            # No second frame in time: judge by whatever was drawn since the action.
            self.close_window(win.get("post"))
        if self.open is not None or not self.action_due_within(0):
            return
        _, key = self.schedule[self.next_action]
        self.next_action += 1
        pre = self.last_frame if self.last_frame is not None else self.snapshot()
        win = {"at": round(t, 3), "key": key, "frames": 0, "pre": pre, "closed": False}
        self.windows.append(win)
        self.open = win
        if key is not None:
            self.held[key] = t
            self.post(self.pg.KEYDOWN, key)

    def post(self, etype, name):
        pg = self.pg
        uni = {"SPACE": " ", "RETURN": "\r", "ENTER": "\r"}.get(
            name, name if len(name) == 1 else "")
        try:
            pg.event.post(pg.event.Event(etype, key=self.keycodes[name], mod=0, unicode=uni,
                                         scancode=0))
        except pg.error as exc:
            self.data.setdefault("post_errors", []).append(str(exc))

    def close_window(self, post):
        win = self.open
        self.open = None
        self.last_frame = None
        pre = win.pop("pre")
        win.pop("post", None)
        win["closed"] = True
        win["changed"] = post is not None and pre is not None and post[2] != pre[2]
        if win["changed"]:
            win["dx"], win["dy"] = shift(pre, post)

    def extend(self, data):
        t_end = now()
        frames = self.frames
        first = self.first_frame
        data["frames"] = frames
        data["first_frame_s"] = round(first, 3) if first is not None else None
        span = t_end - first if first is not None else 0
        data["fps"] = round(frames / span, 1) if span > 0 else None
        data["size"] = self.size
        try:
            data["caption"] = self.pg.display.get_caption()[0]
        except Exception:
            data["caption"] = None
        windows = [dict(w) for w in self.windows]
        for w in windows:
            w.pop("pre", None)
            w.pop("post", None)
        data["windows"] = windows
        data.update(summarise(windows, self.events))


class Pressed:
    """pygame.key.get_pressed() with the probe's held keys pressed too."""

    def __init__(self, real, held):
        self.real = real
        self.held = held

    def __getitem__(self, key):
        return True if key in self.held else self.real[key]

    def __len__(self):
        return len(self.real)

    def __iter__(self):
        return iter(self.real)


def key_code(pygame, name):
    aliases = {"ENTER": "RETURN", "ESC": "ESCAPE", "SPACEBAR": "SPACE"}
    name = aliases.get(name.upper(), name)
    for attr in (f"K_{name}", f"K_{name.upper()}", f"K_{name.lower()}"):
        if hasattr(pygame, attr):
            return getattr(pygame, attr)
    return None


def shift(pre, post):
    """Horizontal and vertical shift (in screen pixels) of what changed between two frames."""
    try:
        import numpy as np
    except ImportError:
        return None, None
    (w, h), factor, a = pre
    if post[0] != pre[0]:
        return None, None
    b = post[2]
    pa = np.frombuffer(a, dtype=np.uint8).reshape(h, w, 3).astype(np.uint32)
    pb = np.frombuffer(b, dtype=np.uint8).reshape(h, w, 3).astype(np.uint32)
    ka = (pa[..., 0] << 16) | (pa[..., 1] << 8) | pa[..., 2]
    kb = (pb[..., 0] << 16) | (pb[..., 1] << 8) | pb[..., 2]
    values, counts = np.unique(ka, return_counts=True)
    background = values[np.argmax(counts)]
    diff = ka != kb
    appeared = diff & (kb != background)
    vanished = diff & (ka != background)
    if not appeared.any() or not vanished.any():
        return None, None
    ya, xa = np.nonzero(appeared)
    yv, xv = np.nonzero(vanished)
    return (round(float(xa.mean() - xv.mean()) * factor, 1),
            round(float(ya.mean() - yv.mean()) * factor, 1))


def run_pygame(cfg):
    probe = PygameProbe(cfg)
    try:
        probe.install()
    except ImportError as exc:
        probe.data["harness_error"] = f"pygame is not importable in the sandbox: {exc}"
        probe.finish("error")
    module = main_module(cfg["solution"])
    run_in_process(probe, module)


# --- curses ------------------------------------------------------------------------------------

def curses_keys(events):
    import curses

    if os.environ.get("TERM", "dumb") in ("", "dumb", "unknown"):
        os.environ["TERM"] = "xterm-256color"
    curses.setupterm(os.environ["TERM"], sys.__stdout__.fileno()
                     if sys.__stdout__ and sys.__stdout__.isatty() else -1)
    caps = {"LEFT": "kcub1", "RIGHT": "kcuf1", "UP": "kcuu1", "DOWN": "kcud1",
            "HOME": "khome", "END": "kend", "DELETE": "kdch1", "BACKSPACE": "kbs"}
    plain = {"SPACE": b" ", "ENTER": b"\r", "RETURN": b"\r", "ESCAPE": b"\x1b", "ESC": b"\x1b",
             "TAB": b"\t"}
    out = {}
    for name in events:
        up = name.upper()
        if up in caps:
            seq = curses.tigetstr(caps[up])
            if not seq:
                raise ValueError(f"the terminal has no sequence for {name}")
            out[name] = seq
        elif up in plain:
            out[name] = plain[up]
        elif len(name) == 1:
            out[name] = name.encode()
        else:
            raise ValueError(f"unknown key name {name!r} for curses")
    return out


def run_curses(cfg):
    import fcntl
    import pty
    import select
    import signal
    import struct
    import termios

    report = Report(cfg)
    events = list(cfg.get("events") or [])
    try:
        keys = curses_keys(events)
    except Exception as exc:
        report.data["harness_error"] = str(exc)
        report.finish("error")
    err_path = cfg["report"] + ".stderr"
    pid, fd = pty.fork()
    if pid == 0:
        errfd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(errfd, 2)
        os.execv(sys.executable, [sys.executable, "-c", SEEDED_RUN, cfg["solution"]])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    total = 0
    tail = bytearray()
    first_output = None
    schedule = None
    next_action = 0
    windows = []
    win = None
    status = None
    deadline = cfg["duration"]
    while now() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.02)
        t = now()
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            total += len(chunk)
            tail += chunk
            del tail[:-8192]
            if first_output is None:
                first_output = t
                schedule = build_schedule(events, deadline, t + WARMUP_S)
            if win is not None:
                win["bytes"] += len(chunk)
        if win is not None and t - win["at"] >= CURSES_WINDOW_S:
            win["changed"] = win["bytes"] > win.pop("echo")
            win["closed"] = True
            win = None
        if win is None and schedule and next_action < len(schedule) and (
                schedule[next_action][0] <= t):
            _, key = schedule[next_action]
            next_action += 1
            echo = termios.tcgetattr(fd)[3] & termios.ECHO
            win = {"at": round(t, 3), "key": key, "bytes": 0, "closed": False,
                   "echo": len(keys[key]) * 2 if key and echo else 0}
            windows.append(win)
            if key is not None:
                os.write(fd, keys[key])
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
    outcome = "survived"
    facts = {}
    if status is None and now() < deadline:
        _, status = os.waitpid(pid, 0)
    if status is not None:
        code = os.waitstatus_to_exitcode(status)
        facts["exit_code"] = code
        stderr = _read_tail(err_path)
        if code != 0 and "Traceback" in stderr:
            outcome = "crashed"
            facts["traceback"] = stderr
        else:
            outcome = "exited"
            facts["stderr"] = stderr
    else:
        os.killpg(pid, signal.SIGKILL)
    for w in windows:
        w.pop("echo", None)
    facts["output_bytes"] = total
    facts["first_output_s"] = round(first_output, 3) if first_output is not None else None
    facts["screen_tail"] = strip_ansi(bytes(tail))[-1500:]
    facts["windows"] = windows
    facts.update(summarise(windows, events))
    report.finish(outcome, None, **facts)


def _read_tail(path):
    try:
        with open(path, "rb") as f:
            return f.read()[-4000:].decode("utf-8", errors="replace")
    except OSError:
        return ""


def strip_ansi(data):
    import re

    text = data.decode("utf-8", errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07",
                  " ", text)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)
    return re.sub(r" {2,}", " ", text)


# --- no display ----------------------------------------------------------------------------------

def run_plain(cfg):
    report = Report(cfg)
    module = main_module(cfg["solution"])
    run_in_process(report, module)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cfg = json.load(f)
    # The program need not learn where the report goes.
    os.remove(sys.argv[1])
    display = cfg["display"]
    if display == "pygame":
        run_pygame(cfg)
    elif display == "curses":
        run_curses(cfg)
    else:
        run_plain(cfg)


if __name__ == "__main__":
    main()
